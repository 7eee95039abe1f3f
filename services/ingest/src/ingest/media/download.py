"""Handing a tenant a file from Meta without handing it the deployment's token.

Meta: "Media", Cloud API reference: ``GET {base}/{version}/{media-id}[?phone_number_id=]``
answers ``{"messaging_product", "url", "mime_type", "sha256", "file_size", "id"}``; the
``url`` (``https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=…``, valid 5
minutes) gives the bytes to a GET with the same Bearer token. Media a customer sent lives
7 days, an upload 30.

The walls: a tenant may fetch only a media id that one of its own customers' messages
carries (``ingest.inbound``, its ``tenant_id``) or that it uploaded itself (recorded by
:mod:`ingest.media.upload`); Meta is asked with ``phone_number_id`` set to the number the
media belongs to, so Meta checks it too. The ``url`` is fetched only on Meta's host
(:func:`allowed_url`), without following redirects: nothing in an answer can make us call
another host with the token (SSRF), and no more than the type's limit is passed on.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest import meta_graph
from ingest.inbound.content import MEDIA_KINDS
from ingest.media import limits
from ingest.media.upload import uploaded_by
from ingest.meta_graph import MetaRefused, MetaUnavailable
from ingest.settings import IngestSettings
from notif_core.logging import get_logger
from notif_core.settings import meta_host

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = get_logger(__name__)
GRAPH_HOST: Final = "graph.facebook.com"
LOOKASIDE_HOST: Final = "lookaside.fbsbx.com"
"""Where Meta's Cloud API serves media downloads (Meta: "Media", "Download media")."""
INBOUND_LOOKBACK: Final = limits.ID_LIFETIME
"""Inbound messages older than any media id lives are not searched (Meta keeps a customer's
media 7 days, an upload 30)."""
SAFE_TYPE = re.compile(
    r"^[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+(\s*;\s*[A-Za-z0-9.+-]+=[A-Za-z0-9.+-]+)*$"
)
MAX_ID: Final = 32

_INBOUND_MEDIA = text(
    "SELECT phone_number_id FROM ingest.inbound "
    "WHERE tenant_id = :tenant AND received_at > now() - :lookback "
    "AND kind = ANY(:kinds) AND content->>'media_id' = :media_id "
    "ORDER BY received_at DESC LIMIT 1"
)


class TooLarge(Exception):
    """Meta's file is larger than its type's limit."""


class OverOurLimit(Exception):
    """The file Meta holds is over the size this service passes on for its type (the
    upload limit Meta documents for the type: "Supported media types"): our refusal, not
    Meta's, so it is never reported as Meta's error."""

    def __init__(self, limit: int, mime_type: str) -> None:
        self.message = (
            f"The file is larger than {limits.human(limit)}, the most this service downloads "
            f"for {mime_type}; Meta holds it, but it is not passed on."
        )
        super().__init__(self.message)


@dataclass(frozen=True)
class Download:
    """An open download: the bytes are read from ``response`` by :meth:`chunks`."""

    response: httpx.Response
    mime_type: str
    length: int | None
    limit: int

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file, aborting (raising :class:`TooLarge`) past its declared length or the
        type's limit: a cut connection, never a file that looks complete but is not."""
        cap = min(self.limit, self.length) if self.length is not None else self.limit
        sent = 0
        try:
            async for chunk in self.response.aiter_raw():
                sent += len(chunk)
                if sent > cap:
                    log.warning("media_download_aborted", limit=cap)
                    raise TooLarge(f"more than {cap} bytes")
                yield chunk
        finally:
            await self.response.aclose()

    async def close(self) -> None:
        await self.response.aclose()


def valid_id(media_id: str) -> bool:
    return media_id.isascii() and media_id.isdigit() and len(media_id) <= MAX_ID


async def owning_sender(
    engine: AsyncEngine, redis: Redis, tenant_id: UUID, media_id: str
) -> str | None:
    """The tenant's number ``media_id`` belongs to, if the tenant may fetch it: one it
    uploaded, or one of its customers' messages carries. None otherwise."""
    if not valid_id(media_id):
        return None
    sender = await uploaded_by(redis, tenant_id, media_id)
    if sender is not None:
        return sender
    async with engine.connect() as conn:
        found = await conn.scalar(
            _INBOUND_MEDIA,
            {
                "tenant": tenant_id,
                "lookback": timedelta(seconds=INBOUND_LOOKBACK.total_seconds()),
                "kinds": sorted(MEDIA_KINDS),
                "media_id": media_id,
            },
        )
    return found if isinstance(found, str) else None


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
        return None
    if parts.password is not None:
        return None
    return scheme, parts.hostname.rstrip(".").lower(), port or (443 if scheme == "https" else 80)


def allowed_url(settings: IngestSettings, url: str) -> bool:
    """Whether a download ``url`` from Meta's answer is on Meta's host: the configured
    ``WHATSAPP_API_BASE_URL``'s origin (the sandbox serves its own), or, when that is
    ``graph.facebook.com``, ``https://lookaside.fbsbx.com``. Credentials in the URL, other
    schemes, ports and hosts are refused."""
    target = _origin(url)
    if target is None:
        return False
    base = settings.whatsapp_api_base_url
    if target == _origin(base):
        return True
    return meta_host(base) == GRAPH_HOST and target == ("https", LOOKASIDE_HOST, 443)


async def _retrieve(
    client: httpx.AsyncClient, settings: IngestSettings, sender: str, media_id: str
) -> tuple[str, str, int | None]:
    response = await meta_graph.call(
        client.get(
            meta_graph.url(settings, media_id),
            params={"phone_number_id": sender},
            headers=meta_graph.auth(settings),
        )
    )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise MetaRefused(None, "Meta's answer is not a media object")
    url, mime_type, size = body.get("url"), body.get("mime_type"), body.get("file_size")
    if not isinstance(url, str) or not isinstance(mime_type, str):
        raise MetaRefused(None, "Meta's answer has no url or mime_type")
    if isinstance(size, str) and size.isdigit():
        size = int(size)
    return url, mime_type, size if isinstance(size, int) and not isinstance(size, bool) else None


def _declared_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else None


async def open_download(
    client: httpx.AsyncClient, settings: IngestSettings, sender: str, media_id: str
) -> Download:
    """Ask Meta where the media is and start reading it. Raises :class:`MetaRefused`
    (also for a URL off Meta's host), :class:`OverOurLimit` (a file over its type's limit,
    by Meta's ``file_size`` or the download's Content-Length) and :class:`MetaUnavailable`."""
    url, mime_type, size = await _retrieve(client, settings, sender, media_id)
    if not allowed_url(settings, url):
        log.warning("media_url_refused", media_id=media_id)
        raise MetaRefused(None, "Meta's download URL is not on Meta's host")
    mime_type = mime_type.strip() if SAFE_TYPE.match(mime_type.strip()) else ""
    mime_type = mime_type or "application/octet-stream"
    limit = limits.download_limit(mime_type)
    if size is not None and size > limit:
        raise OverOurLimit(limit, mime_type)
    request = client.build_request(
        "GET", url, headers=meta_graph.auth(settings) | {"Accept-Encoding": "identity"}
    )
    try:
        response = await client.send(request, stream=True, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise MetaUnavailable(f"{type(exc).__name__} downloading from Meta") from exc
    length = _declared_length(response)
    if response.status_code != 200 or (length is not None and length > limit):
        await response.aclose()
        if response.status_code != 200:
            raise MetaRefused(None, f"HTTP {response.status_code} downloading the media")
        raise OverOurLimit(limit, mime_type)
    return Download(response, mime_type, length if length is not None else size, limit)
