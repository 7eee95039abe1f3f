"""Media the sandbox holds: uploads (``POST /{phone_number_id}/media``) and what users send
in, served by ``GET /{media_id}`` and a download URL, removed by ``DELETE /{media_id}``.

Meta: "Media" (business-phone-numbers/media) and "Supported media types". The types and
size limits below are Meta's table; a webp upload is held to the animated sticker's
500 KB (a static sticker's 100 KB cannot be told apart without decoding: assumed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from aiohttp import BodyPartReader, web

from wa_sandbox.errors import invalid

KB = 1024
MB = 1024 * KB

KINDS: dict[str, tuple[str, int]] = {
    "audio/aac": ("audio", 16 * MB),
    "audio/amr": ("audio", 16 * MB),
    "audio/mpeg": ("audio", 16 * MB),
    "audio/mp4": ("audio", 16 * MB),
    "audio/ogg": ("audio", 16 * MB),
    "audio/opus": ("audio", 16 * MB),
    "text/plain": ("document", 100 * MB),
    "application/pdf": ("document", 100 * MB),
    "application/vnd.ms-excel": ("document", 100 * MB),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("document", 100 * MB),
    "application/msword": ("document", 100 * MB),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (
        "document",
        100 * MB,
    ),
    "application/vnd.ms-powerpoint": ("document", 100 * MB),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (
        "document",
        100 * MB,
    ),
    "image/jpeg": ("image", 5 * MB),
    "image/png": ("image", 5 * MB),
    "image/webp": ("sticker", 500 * KB),
    "video/mp4": ("video", 16 * MB),
    "video/3gpp": ("video", 16 * MB),
}
"""Uploadable MIME types: the kind of message each makes and its size limit."""

MAX_UPLOAD = max(limit for _, limit in KINDS.values())
"""The largest file any type allows; an upload body is read no further than this."""

DEFAULT_MIME = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/ogg",
    "document": "application/pdf",
    "sticker": "image/webp",
}
"""What a user's media is when the control call names no type."""


def base_type(mime_type: str) -> str:
    """``audio/ogg; codecs=opus`` → ``audio/ogg``: parameters do not change the type."""
    return mime_type.split(";", 1)[0].strip().lower()


def check_upload(mime_type: str, size: int) -> None:
    """Meta's refusals of an upload: a type it does not take is 100 with its list of types
    (the message reported by integrators, fbsamples/whatsapp-api-examples#10); a file over
    its type's limit is 100 "File Too Large" (reported by integrators; assumed)."""
    kind = KINDS.get(base_type(mime_type))
    if kind is None:
        raise invalid(
            "Param file must be a file with one of the following types: "
            + ", ".join(KINDS)
            + f". Received file of type '{mime_type}'."
        )
    if size > kind[1]:
        raise invalid(
            f"File Too Large: the {kind[0]} is {size} bytes, more than the "
            f"{kind[1]} bytes allowed for {base_type(mime_type)}"
        )


@dataclass
class Media:
    id: str
    phone_number_id: str
    content: bytes
    mime_type: str
    expires_at: float
    filename: str | None = None
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.content).hexdigest()


class MediaStore:
    """Media by id, each with its owner (a business number) and its expiry."""

    def __init__(self) -> None:
        self._items: dict[str, Media] = {}
        self._secret = secrets.token_bytes(16)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def add(
        self,
        phone_number_id: str,
        content: bytes,
        mime_type: str,
        ttl: float,
        filename: str | None = None,
    ) -> Media:
        media_id = new_media_id()
        while media_id in self._items:
            media_id = new_media_id()
        media = Media(media_id, phone_number_id, content, mime_type, time.time() + ttl, filename)
        self._items[media_id] = media
        return media

    def get(self, media_id: str) -> Media | None:
        """The media, if the id is known and has not expired (an expired one is forgotten)."""
        media = self._items.get(media_id)
        if media is not None and media.expires_at <= time.time():
            del self._items[media_id]
            return None
        return media

    def delete(self, media_id: str) -> bool:
        return self.get(media_id) is not None and self._items.pop(media_id, None) is not None

    def _hash(self, media_id: str, expires: int) -> str:
        message = f"{media_id}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def url(self, origin: str, media: Media, ttl: float) -> str:
        """A download URL of the sandbox, signed and valid ``ttl`` seconds, in the spirit of
        Meta's ``lookaside.fbsbx.com/whatsapp_business/attachments/?mid=…&ext=…&hash=…``."""
        expires = int(time.time() + ttl)
        query = urlencode({"ext": expires, "hash": self._hash(media.id, expires)})
        return f"{origin}/_media/{media.id}?{query}"

    def by_url(self, media_id: str, ext: str, digest: str) -> Media | None:
        """The media a download URL names, if the URL is the sandbox's and still valid."""
        if not ext.isdigit() or int(ext) < time.time():
            return None
        if not hmac.compare_digest(digest, self._hash(media_id, int(ext))):
            return None
        return self.get(media_id)


def header_safe(value: str) -> str:
    """``value`` as a header value: control characters (CR, LF, NUL…), which no HTTP
    header may hold (RFC 9110 §5.5; aiohttp refuses to send them), become spaces, and
    what is not Latin-1 becomes ``?``. For text a user or a client gave (a type)."""
    cleaned = "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in value)
    return cleaned.encode("latin-1", errors="replace").decode("latin-1").strip()


def content_disposition(filename: str) -> str:
    """``attachment`` with a user's file name, safe whatever it holds: an ASCII fallback
    ``filename`` (quotes, backslashes and control characters replaced) and the exact name
    percent-encoded in ``filename*`` (RFC 6266 §4.3, RFC 8187)."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def new_media_id() -> str:
    """A numeric id like Meta's (``1037543291543636``): 16 digits, so never one of the
    configured 15-digit phone number ids."""
    return str(10**15 + secrets.randbelow(9 * 10**15))


def placeholder(kind: str, seed: str) -> bytes:
    """A small deterministic payload for a user's media sent without content."""
    return f"wa-sandbox {kind} {seed}\n".encode()


async def _form_field(part: BodyPartReader, limit: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data.extend(chunk)
        if len(data) > limit:
            raise invalid(f"File Too Large: the {part.name} part is over {limit} bytes")
    return bytes(data)


async def read_upload(request: web.Request) -> tuple[bytes, str, str | None]:
    """The file of an upload (its bytes, its part's Content-Type and its filename), once
    ``messaging_product`` and ``type`` are checked. Streamed: nothing past the largest
    allowed file is read."""
    if request.content_type != "multipart/form-data":
        raise invalid("The request must be multipart/form-data")
    fields: dict[str, str] = {}
    file: tuple[bytes, str, str | None] | None = None
    try:
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file":
                content = await _form_field(part, MAX_UPLOAD)
                mime_type = part.headers.get("Content-Type", "application/octet-stream")
                file = (content, mime_type, part.filename)
            elif part.name is not None:
                fields[part.name] = (await _form_field(part, 4096)).decode(errors="replace")
    except (ValueError, AssertionError):
        raise invalid("The multipart body cannot be read") from None
    if fields.get("messaging_product") != "whatsapp":
        raise invalid("The parameter messaging_product is required and must be 'whatsapp'")
    if file is None:
        raise invalid("The parameter file is required")
    if not fields.get("type"):
        raise invalid("The parameter type is required")
    return file
