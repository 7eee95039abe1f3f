"""Reading an upload's ``multipart/form-data`` body as it streams in, refusing at the door
what Meta would refuse.

Meta reads the type of an upload from the file part's ``Content-Type`` and holds the file
to that type's limit (Meta: "Media", "Supported media types"). So the type is judged as
soon as the part's headers are read, before any of its bytes, and the size while the bytes
come: nothing past the type's limit is kept (at most the limit itself is in memory), and a
refusal answers at once, without reading the rest of the body.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from typing import Final

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from ingest.media import limits

MAX_FIELD: Final = 256
"""A form field other than the file (``phone_number_id``) is short."""
MAX_PARTS: Final = 8
MAX_FILENAME: Final = 240


class FormRefused(Exception):
    """The body cannot be an upload: the answer's status, stable code and message."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class UploadForm:
    content: bytearray
    """The file, as read (not copied again: it may be 100 MB)."""
    mime_type: str
    """The file part's type without parameters, lower case (``image/jpeg``)."""
    kind: str
    """The message kind it makes: image, video, audio, document or sticker."""
    sha256: str
    filename: str | None
    phone_number_id: str | None


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    data: bytearray = field(default_factory=bytearray)
    limit: int = MAX_FIELD
    is_file: bool = False


@dataclass
class _Reading:
    """What the parser's callbacks saw; :func:`read` acts on it after each chunk."""

    events: list[tuple[str, bytes]] = field(default_factory=list)
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)

    def callbacks(self) -> dict[str, object]:
        def header_end() -> None:
            self.events.append(("header", bytes(self.header_field) + b"\0" + self.header_value))
            self.header_field.clear()
            self.header_value.clear()

        return {
            "on_part_begin": lambda: self.events.append(("begin", b"")),
            "on_header_field": lambda d, s, e: self.header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self.header_value.extend(d[s:e]),
            "on_header_end": header_end,
            "on_headers_finished": lambda: self.events.append(("headers", b"")),
            "on_part_data": lambda d, s, e: self.events.append(("data", bytes(d[s:e]))),
            "on_part_end": lambda: self.events.append(("end", b"")),
            "on_end": lambda: self.events.append(("done", b"")),
        }


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary, or :class:`FormRefused` (415 for a body of another type)."""
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise FormRefused(
            415,
            "unsupported_media_type",
            "Send the file as Content-Type: multipart/form-data, in a part named file.",
        )
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 70:  # RFC 2046 §5.1.1: 1 to 70 characters
        raise FormRefused(400, "invalid_form", "The multipart/form-data body has no boundary.")
    return boundary


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _header(raw: bytes) -> str:
    """A part header's bytes one character per byte (latin-1, as HTTP reads headers), so
    that the option parser, which encodes them back as latin-1, gets any bytes a client
    sent; the values it finds (a field or file name) are then read as UTF-8."""
    return raw.decode("latin-1").strip()


def _filename(raw: bytes | None) -> str | None:
    if not raw:
        return None
    name = "".join(c for c in _text(raw) if c.isprintable() and c not in '\\/"')
    return name[:MAX_FILENAME] or None


def _begin_file(part: _Part, filename: str | None, seen: dict[str, object]) -> None:
    if "file" in seen:
        raise FormRefused(422, "validation_error", "Send one file per upload.", field="file")
    mime_type = limits.base_type(part.headers.get("content-type", "application/octet-stream"))
    found = limits.upload_limit(mime_type)
    if found is None:
        raise FormRefused(
            422,
            "unsupported_media",
            f"Meta does not take files of type '{mime_type[:100]}' (the file part's "
            f"Content-Type). Supported: {', '.join(limits.TYPES)}.",
            field="file",
        )
    part.is_file = True
    part.limit = found[1]
    seen["file"] = (mime_type, found[0], filename)


def _too_large(part: _Part) -> FormRefused:
    mime_type = limits.base_type(part.headers.get("content-type", ""))
    kind, limit = limits.TYPES[mime_type]
    return FormRefused(
        413,
        "media_too_large",
        f"The file is larger than Meta's limit for {mime_type} ({kind}): "
        f"{limits.human(limit)} ({limit} bytes).",
        field="file",
    )


async def read(content_type: str | None, body: AsyncIterable[bytes]) -> UploadForm:
    """The upload in ``body``; raises :class:`FormRefused`."""
    reading = _Reading()
    parser = MultipartParser(boundary_of(content_type), reading.callbacks())  # type: ignore[arg-type]
    seen: dict[str, object] = {}
    fields: dict[str, str] = {}
    content = bytearray()
    digest = hashlib.sha256()
    part = _Part()
    parts = 0
    done = False
    async for chunk in body:
        if done:
            continue  # an epilogue after the closing boundary: ignored
        try:
            parser.write(chunk)
        except FormParserError:
            raise FormRefused(
                400, "invalid_form", "The multipart/form-data body cannot be read."
            ) from None
        for event, data in reading.events:
            if event == "begin":
                parts += 1
                if parts > MAX_PARTS:
                    raise FormRefused(400, "invalid_form", f"More than {MAX_PARTS} form parts.")
                part = _Part()
            elif event == "header":
                name, _, value = data.partition(b"\0")
                part.headers[_header(name).lower()] = _header(value)
            elif event == "headers":
                _, options = parse_options_header(part.headers.get("content-disposition"))
                part.name = _text(options.get(b"name", b""))
                if part.name == "file":
                    _begin_file(part, _filename(options.get(b"filename")), seen)
            elif event == "data":
                if len(part.data if not part.is_file else content) + len(data) > part.limit:
                    if part.is_file:
                        raise _too_large(part)
                    raise FormRefused(
                        422,
                        "validation_error",
                        f"The form field {part.name!r} is longer than {MAX_FIELD} bytes.",
                        field=part.name,
                    )
                if part.is_file:
                    content.extend(data)
                    digest.update(data)
                else:
                    part.data.extend(data)
            elif event == "end":
                if not part.is_file and part.name:
                    fields[part.name] = _text(bytes(part.data))
            elif event == "done":
                done = True
        reading.events.clear()
    if not done:
        raise FormRefused(400, "invalid_form", "The multipart/form-data body is incomplete.")
    file = seen.get("file")
    if not isinstance(file, tuple):
        raise FormRefused(
            422, "validation_error", "Send the file in a form part named file.", field="file"
        )
    mime_type, kind, filename = file
    if not content:  # Meta refuses an empty file; it is refused here without calling Meta
        raise FormRefused(422, "validation_error", "The file is empty (0 bytes).", field="file")
    phone_number_id = fields.get("phone_number_id") or None
    if phone_number_id is not None and not (
        phone_number_id.isascii() and phone_number_id.isdigit() and 5 <= len(phone_number_id) <= 20
    ):
        raise FormRefused(
            422,
            "validation_error",
            "phone_number_id is a Meta phone number id: 5 to 20 digits.",
            field="phone_number_id",
        )
    return UploadForm(
        content=content,
        mime_type=mime_type,
        kind=kind,
        sha256=digest.hexdigest(),
        filename=filename,
        phone_number_id=phone_number_id,
    )
