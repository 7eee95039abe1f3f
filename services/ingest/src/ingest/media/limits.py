"""What Meta takes: the MIME types a media message may carry, each type's size limit, and
how long an id lives.

Meta: "Supported media types" (developers.facebook.com/documentation/business-messaging/
whatsapp/business-phone-numbers/media#supported-media-types). Meta reads the type from the
file part's ``Content-Type`` and refuses another type, or a file over its type's limit,
with code 100; the same table is what the sandbox enforces (``wa_sandbox.media``). A webp
file is a sticker, held to the animated sticker's 500 KB (a static one's 100 KB cannot be
told apart without decoding it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

KB: Final = 1024
MB: Final = 1024 * KB

TYPES: Final[dict[str, tuple[str, int]]] = {
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
"""Uploadable MIME types: the kind of message each makes and its size limit in bytes."""

BY_FAMILY: Final[dict[str, int]] = {"image": 5 * MB, "video": 16 * MB, "audio": 16 * MB}
"""A customer's media of a type outside :data:`TYPES` (Meta delivers what the customer's
app sent) is held to its family's limit; anything else to a document's."""

MAX_FILE: Final = max(limit for _, limit in TYPES.values())
"""The largest file any type allows (a document's 100 MB)."""

FORM_OVERHEAD: Final = 64 * KB
"""Room for the multipart boundaries, part headers and the small fields around the file."""

MAX_FORM_BODY: Final = MAX_FILE + FORM_OVERHEAD
"""The request body an upload may have; each type's own limit is enforced while reading."""

ID_LIFETIME: Final = timedelta(days=30)
"""An uploaded media id lives 30 days unless deleted (Meta: "Media", Cloud API reference:
"All media files sent through this endpoint are encrypted and persist for 30 days")."""

DEDUPE_LIFETIME: Final = ID_LIFETIME - timedelta(days=1)
"""The same bytes reuse an id for a day less than it lives, so a reused id always has at
least a day left to be sent in."""


def base_type(mime_type: str) -> str:
    """``audio/ogg; codecs=opus`` → ``audio/ogg``: parameters do not change the type."""
    return mime_type.split(";", 1)[0].strip().lower()


def upload_limit(mime_type: str) -> tuple[str, int] | None:
    """The message kind and size limit of an uploadable type, or None if Meta refuses it."""
    return TYPES.get(base_type(mime_type))


def download_limit(mime_type: str) -> int:
    """The most bytes a file of this type may have when we fetch it from Meta."""
    found = upload_limit(mime_type)
    if found is not None:
        return found[1]
    return BY_FAMILY.get(base_type(mime_type).split("/", 1)[0], MAX_FILE)


def human(size: int) -> str:
    """``5 MB``, ``500 KB``: a limit as Meta's table writes it."""
    return f"{size // MB} MB" if size % MB == 0 else f"{size // KB} KB"
