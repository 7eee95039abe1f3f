"""Uploading a tenant's file to Meta for one of its numbers, once per content.

``POST {base}/{version}/{phone-number-id}/media``, multipart with ``messaging_product=
whatsapp``, ``type`` (the MIME type) and ``file`` (its part's ``Content-Type`` is the
type Meta reads), answers ``{"id"}`` (Meta: "Media", Cloud API reference, "Upload media").
The id can be sent in any media message from that number for 30 days
(:data:`~ingest.media.limits.ID_LIFETIME`).

The same bytes of the same type uploaded again for the same number get the id they got the
first time, without calling Meta, for a day less than the id lives (Redis key of sender,
SHA-256 and type). Each tenant's uploads are recorded too, so that it, and only it, may
fetch them back through ``GET /v1/media/{id}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

import httpx

from ingest import meta_graph
from ingest.media import limits
from ingest.media.form import UploadForm
from ingest.settings import IngestSettings
from notif_core.logging import get_logger
from notif_core.privacy import mask_phone

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = get_logger(__name__)
KEY_PREFIX: Final = "ingest:media"


class MetaRefused(Exception):
    """Meta answered with an error (its code, or None) or without a media id."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class MetaUnreachable(Exception):
    """No answer from Meta (connection, timeout); the message names no secret."""


@dataclass(frozen=True)
class Uploaded:
    id: str
    sha256: str
    mime_type: str
    file_size: int
    expires_at: datetime
    deduplicated: bool


def dedupe_key(sender: str, sha256: str, mime_type: str) -> str:
    return f"{KEY_PREFIX}:dedupe:{sender}:{sha256}:{mime_type}"


def owner_key(tenant_id: UUID, media_id: str) -> str:
    return f"{KEY_PREFIX}:owner:{tenant_id}:{media_id}"


async def upload(
    client: httpx.AsyncClient,
    redis: Redis,
    settings: IngestSettings,
    tenant_id: UUID,
    sender: str,
    form: UploadForm,
) -> Uploaded:
    """The Meta media id of ``form``'s file for ``sender``: reused when the same content
    was uploaded for it before, else uploaded now. Raises :class:`MetaRefused` and
    :class:`MetaUnreachable`; Redis being down only costs the reuse."""
    size = len(form.content)
    key = dedupe_key(sender, form.sha256, form.mime_type)
    reused = await _reused(redis, key)
    if reused is not None:
        media_id, expires_at = reused
        await remember_owner(redis, tenant_id, media_id, sender, form.mime_type, expires_at)
        return Uploaded(media_id, form.sha256, form.mime_type, size, expires_at, True)
    media_id = await _to_meta(client, settings, sender, form)
    expires_at = datetime.now(UTC) + limits.ID_LIFETIME
    record = json.dumps({"id": media_id, "expires_at": expires_at.timestamp()})
    try:
        await redis.set(key, record, ex=int(limits.DEDUPE_LIFETIME.total_seconds()))
    except Exception as exc:  # Redis down: the next upload of the same bytes goes to Meta
        log.warning("media_dedupe_unavailable", error=type(exc).__name__)
    await remember_owner(redis, tenant_id, media_id, sender, form.mime_type, expires_at)
    log.info(
        "media_uploaded",
        sender=mask_phone(sender),
        media_id=media_id,
        mime_type=form.mime_type,
        file_size=size,
    )
    return Uploaded(media_id, form.sha256, form.mime_type, size, expires_at, False)


async def _reused(redis: Redis, key: str) -> tuple[str, datetime] | None:
    try:
        raw = await redis.get(key)
    except Exception as exc:
        log.warning("media_dedupe_unavailable", error=type(exc).__name__)
        return None
    if raw is None:
        return None
    try:
        found = json.loads(raw)
        media_id, expires = found["id"], found["expires_at"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(media_id, str) or not isinstance(expires, int | float):
        return None
    expires_at = datetime.fromtimestamp(expires, UTC)
    if expires_at - datetime.now(UTC) < timedelta(hours=1):  # Meta's copy is about to go
        return None
    return media_id, expires_at


async def remember_owner(
    redis: Redis,
    tenant_id: UUID,
    media_id: str,
    sender: str,
    mime_type: str,
    expires_at: datetime,
) -> None:
    """Record that ``tenant_id`` uploaded ``media_id`` (for ``sender``), for as long as
    Meta keeps it; a failure is logged: the id still works in messages."""
    seconds = int((expires_at - datetime.now(UTC)).total_seconds())
    record = json.dumps({"sender": sender, "mime_type": mime_type})
    try:
        await redis.set(owner_key(tenant_id, media_id), record, ex=max(seconds, 1))
    except Exception as exc:
        log.warning("media_owner_unrecorded", error=type(exc).__name__)


async def uploaded_by(redis: Redis, tenant_id: UUID, media_id: str) -> str | None:
    """The sender ``tenant_id`` uploaded ``media_id`` for, or None (never uploaded by it,
    expired, or Redis unavailable)."""
    try:
        raw = await redis.get(owner_key(tenant_id, media_id))
    except Exception as exc:
        log.warning("media_owner_unavailable", error=type(exc).__name__)
        return None
    try:
        sender = json.loads(raw)["sender"] if raw is not None else None
    except (ValueError, TypeError, KeyError):
        return None
    return sender if isinstance(sender, str) else None


async def _to_meta(
    client: httpx.AsyncClient, settings: IngestSettings, sender: str, form: UploadForm
) -> str:
    """Upload to Meta: ``messaging_product``, ``type`` and the ``file`` part, encoded by
    httpx (which quotes the client's file name safely)."""
    try:
        response = await client.post(
            meta_graph.url(settings, sender, "media"),
            data={"messaging_product": "whatsapp", "type": form.mime_type},
            files={
                "file": (form.filename or f"file.{form.kind}", bytes(form.content), form.mime_type)
            },
            headers=meta_graph.auth(settings),
        )
    except httpx.HTTPError as exc:
        raise MetaUnreachable(f"{type(exc).__name__} calling Meta") from exc
    if response.status_code != 200:
        raise MetaRefused(*meta_graph.error_of(response))
    media_id = _object(response).get("id")
    if not isinstance(media_id, str) or not media_id.isascii() or not media_id.isdigit():
        raise MetaRefused(None, "Meta's answer has no media id")
    return media_id


def _object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
