"""The send door's wall around uploads: a tenant may not send another tenant's upload.

Meta ties an uploaded id to the business that uploaded it (retrieving or deleting it with
another number's ``phone_number_id`` is refused: Meta, "Media" reference), but all the
tenants of a deployment share one business token, so Meta cannot tell them apart: this
service records who uploaded each id (:func:`ingest.media.upload.uploaders`) and refuses a
send carrying an id another tenant uploaded. Ids it never saw (a customer's media, an id
uploaded elsewhere) pass, and Meta decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from ingest.api.errors import ApiError
from ingest.api.schemas import MEDIA_KINDS
from ingest.media.upload import uploaders

if TYPE_CHECKING:
    from redis.asyncio import Redis

CARRIERS: Final = frozenset({*MEDIA_KINDS, "interactive"})
"""The message kinds that may carry a media id."""
HEADER_MEDIA: Final = ("image", "video", "document")
"""Media an interactive message's header may carry by id (Meta: "Interactive messages")."""


def media_ids(item: Any) -> list[tuple[str, str]]:
    """Each media id a request (its JSON, as sent) carries, with its field path."""
    if not isinstance(item, Mapping):
        return []
    found: list[tuple[str, str]] = []
    for kind in MEDIA_KINDS:
        part = item.get(kind)
        if isinstance(part, Mapping) and isinstance(part.get("id"), str):
            found.append((f"{kind}.id", part["id"]))
    interactive = item.get("interactive")
    header = interactive.get("header") if isinstance(interactive, Mapping) else None
    if isinstance(header, Mapping):
        for kind in HEADER_MEDIA:
            part = header.get(kind)
            if isinstance(part, Mapping) and isinstance(part.get("id"), str):
                found.append((f"interactive.header.{kind}.id", part["id"]))
    return found


async def foreign_uploads(redis: Redis, items: Iterable[Any], tenant_id: UUID) -> set[str]:
    """The media ids among ``items`` that another tenant uploaded: one Redis round trip
    for a whole batch."""
    ids = {media_id for item in items for _, media_id in media_ids(item)}
    own = str(tenant_id)
    return {i for i, uploader in (await uploaders(redis, ids)).items() if uploader != own}


def check_own(item: Any, foreign: set[str]) -> None:
    """422 ``media_not_yours`` (field ``<kind>.id``) when ``item`` sends one of
    ``foreign``."""
    for field, media_id in media_ids(item):
        if media_id in foreign:
            raise ApiError(
                422,
                "media_not_yours",
                "This media id was uploaded by another tenant; upload the file yourself "
                "(POST /v1/media) and send your own id.",
                field=field,
            )
