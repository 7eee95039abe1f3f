"""An inbound message's content, from Meta's ``messages[]`` item to the shape documented
for tenants (docs/api.md, "Inbound messages"): only the fields of each kind that Meta
documents, each bounded, so a tenant's receiver sees a stable shape whatever Meta adds.

Meta's item (Meta: "Webhooks reference: messages", developers.facebook.com/documentation/
business-messaging/whatsapp/webhooks/reference/messages) has ``type`` and an object of that
name: ``text{body}``, ``button{payload, text}`` (a template's quick-reply tap),
``interactive{type: button_reply|list_reply|nfm_reply, ...}``, ``image|video|audio|
document|sticker{id, mime_type, sha256, caption?, filename?, voice?, animated?}``,
``location{latitude, longitude, name?, address?, url?}``, ``contacts[...]``,
``reaction{message_id, emoji}``, and ``unsupported`` with ``errors[]`` and
``unsupported{type}``. A kind not listed here becomes ``unsupported``; either way the type
is kept as ``original_type``.
"""

from __future__ import annotations

from typing import Any, Final

MAX_TEXT: Final = 4_096
MAX_FIELD: Final = 1_024
MAX_CONTACTS: Final = 20
MEDIA_KINDS: Final = frozenset({"image", "video", "audio", "document", "sticker"})
KINDS: Final = frozenset(
    {"text", "button", "interactive", "location", "contacts", "reaction", "unsupported"}
    | MEDIA_KINDS
)


def _text(value: Any, limit: int = MAX_FIELD) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return value[:limit] if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    try:
        found = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None
    return found if found is not None and abs(found) <= 180 else None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any, most: int) -> list[Any]:
    return value[:most] if isinstance(value, list) else []


def _picked(source: dict[str, Any], *names: str, limit: int = MAX_FIELD) -> dict[str, Any]:
    """The named text fields ``source`` carries, bounded; absent ones left out."""
    return {n: v for n in names if (v := _text(source.get(n), limit)) is not None}


def _interactive(raw: dict[str, Any]) -> dict[str, Any]:
    kind = _text(raw.get("type"), 32) or "unknown"
    reply = _object(raw.get(kind))
    found: dict[str, Any] = {"type": kind, **_picked(reply, "id", "title", "description")}
    if kind == "nfm_reply":  # a WhatsApp Flow's answer: its JSON as Meta sent it
        found |= _picked(reply, "name", "body", "response_json", limit=MAX_TEXT)
    return found


def _contact(raw: Any) -> dict[str, Any]:
    contact = _object(raw)
    name = _object(contact.get("name"))
    return {
        "name": _picked(name, "formatted_name", "first_name", "last_name"),
        "phones": [
            _picked(_object(p), "phone", "wa_id", "type") for p in _list(contact.get("phones"), 10)
        ],
        "emails": [_picked(_object(e), "email", "type") for e in _list(contact.get("emails"), 10)],
    }


def content(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The message's kind and its documented content."""
    kind = message.get("type") if isinstance(message.get("type"), str) else None
    raw = _object(message.get(kind)) if kind else {}
    if kind == "text":
        return kind, _picked(raw, "body", limit=MAX_TEXT)
    if kind == "button":
        return kind, _picked(raw, "text", "payload")
    if kind == "interactive":
        return kind, _interactive(raw)
    if kind in MEDIA_KINDS:
        found = _picked(raw, "mime_type", "sha256", "filename") | _picked(
            raw, "caption", limit=MAX_TEXT
        )
        if (media_id := _text(raw.get("id"), 256)) is not None:
            found["media_id"] = media_id
        for flag in ("voice", "animated"):
            if isinstance(raw.get(flag), bool):
                found[flag] = raw[flag]
        return kind, found
    if kind == "location":
        place = {k: _number(raw.get(k)) for k in ("latitude", "longitude")}
        return kind, {k: v for k, v in place.items() if v is not None} | _picked(
            raw, "name", "address", "url"
        )
    if kind == "contacts":
        listed = _list(message.get("contacts"), MAX_CONTACTS)
        return kind, {"contacts": [_contact(c) for c in listed]}
    if kind == "reaction":
        return kind, _picked(raw, "message_id", "emoji")
    found = {
        "errors": [
            {"code": e.get("code")} | _picked(e, "title", "message")
            for e in (_object(x) for x in _list(message.get("errors"), 5))
            if isinstance(e.get("code"), int | str)
        ]
    }
    original = _object(message.get("unsupported")).get("type") if kind == "unsupported" else kind
    if original is not None:
        found["original_type"] = _text(original, 64) or "unknown"
    return "unsupported", found


def replied_to(message: dict[str, Any], kind: str, found: dict[str, Any]) -> str | None:
    """The wamid the message answers: Meta's ``context.id``, or the message a reaction is
    about."""
    context = _text(_object(message.get("context")).get("id"), 256)
    if context is None and kind == "reaction":
        return _text(found.get("message_id"), 256)
    return context
