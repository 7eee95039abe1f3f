"""Uploading a tenant's file to Meta for one of its numbers, once per content.

``POST {base}/{version}/{phone-number-id}/media``, multipart with ``messaging_product=
whatsapp``, ``type`` (the MIME type) and ``file`` (its part's ``Content-Type`` is the
type Meta reads), answers ``{"id"}`` (Meta: "Media", Cloud API reference, "Upload media").
The id can be sent in any media message from that number for 30 days
(:data:`~ingest.media.limits.ID_LIFETIME`).

The same bytes of the same type uploaded again for the same number get the id they got the
first time, for a day less than the id lives (Redis key of sender, SHA-256 and type), once
Meta confirms it still holds that id (``GET /{version}/{media-id}``, Meta: "Media",
"Retrieve media URL"): an id Meta deleted, or lost (the sandbox restarted), answers Graph
error 100 and would fail every send with 131053, so the entry is dropped and the file
uploaded again; when Meta cannot be reached to confirm, the file is uploaded again too (an
unconfirmed id is never handed back). Each tenant's uploads are recorded too, so that it,
and only it, may fetch them back through ``GET /v1/media/{id}``, and so that no other
tenant may send them (:func:`uploaders`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

import httpx

from ingest import meta_graph
from ingest.media import limits
from ingest.media.form import UploadForm
from ingest.meta_graph import MetaRefused
from ingest.settings import IngestSettings
from notif_core.logging import get_logger
from notif_core.privacy import mask_phone

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = get_logger(__name__)
KEY_PREFIX: Final = "ingest:media"


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


def uploader_key(media_id: str) -> str:
    """Which tenant uploaded ``media_id`` (its id as text), read by the send door."""
    return f"{KEY_PREFIX}:uploaded:{media_id}"


GRAPH_NOT_FOUND: Final = 100
"""Meta's Graph error for an id it does not hold (deleted, expired or unknown)."""


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
    :class:`MetaUnavailable`; Redis being down only costs the reuse."""
    size = len(form.content)
    key = dedupe_key(sender, form.sha256, form.mime_type)
    reused = await _reused(redis, key)
    if reused is not None and await _still_held(client, settings, redis, key, sender, reused[0]):
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


async def _still_held(
    client: httpx.AsyncClient,
    settings: IngestSettings,
    redis: Redis,
    key: str,
    sender: str,
    media_id: str,
) -> bool:
    """Whether Meta still holds the remembered ``media_id`` for ``sender``. Error 100 (it
    does not) drops the remembered entry; any other failure, or no answer, only means the
    id is not reused this time (the new upload's id replaces it)."""
    try:
        response = await client.get(
            meta_graph.url(settings, media_id),
            params={"phone_number_id": sender},
            headers=meta_graph.auth(settings),
        )
    except httpx.HTTPError as exc:
        log.warning("media_dedupe_unconfirmed", error=type(exc).__name__)
        return False
    if response.status_code == 200 and _object(response).get("id") == media_id:
        return True
    code, _ = meta_graph.error_of(response)
    log.info("media_dedupe_stale", media_id=media_id, meta_code=code)
    if code == GRAPH_NOT_FOUND:
        try:
            await redis.delete(key)
        except Exception as exc:
            log.warning("media_dedupe_unavailable", error=type(exc).__name__)
    return False


async def remember_owner(
    redis: Redis,
    tenant_id: UUID,
    media_id: str,
    sender: str,
    mime_type: str,
    expires_at: datetime,
) -> None:
    """Record that ``tenant_id`` uploaded ``media_id`` (for ``sender``), and who uploaded
    it, for as long as Meta keeps it; a failure is logged: the id still works in messages."""
    seconds = max(int((expires_at - datetime.now(UTC)).total_seconds()), 1)
    record = json.dumps({"sender": sender, "mime_type": mime_type})
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set(owner_key(tenant_id, media_id), record, ex=seconds)
            pipe.set(uploader_key(media_id), str(tenant_id), ex=seconds)
            await pipe.execute()
    except Exception as exc:
        log.warning("media_owner_unrecorded", error=type(exc).__name__)


async def uploaders(redis: Redis, media_ids: Iterable[str]) -> dict[str, str]:
    """The tenant (its id as text) that uploaded each of ``media_ids`` through this
    service, for those it recorded: one round trip. Redis down: nothing is known, and
    Meta decides (it refuses an id not of the sending number's account)."""
    ids = sorted(set(media_ids))
    if not ids:
        return {}
    try:
        found = await redis.mget([uploader_key(i) for i in ids])
    except Exception as exc:
        log.warning("media_uploader_unavailable", error=type(exc).__name__)
        return {}
    return {
        i: v.decode() if isinstance(v, bytes) else v
        for i, v in zip(ids, found, strict=True)
        if isinstance(v, str | bytes)
    }


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
    response = await meta_graph.call(
        client.post(
            meta_graph.url(settings, sender, "media"),
            data={"messaging_product": "whatsapp", "type": form.mime_type},
            files={
                "file": (form.filename or f"file.{form.kind}", bytes(form.content), form.mime_type)
            },
            headers=meta_graph.auth(settings),
        )
    )
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
