"""What a user sends a business, as Meta's ``messages`` webhook items carry it.

Shapes from Meta's "messages webhook reference" pages (text, button, interactive, image,
video, audio, document, sticker, location, contacts, reaction, unsupported). The control
API gives the kind and its object; the sandbox checks what Meta always sends is there and
fills in what Meta fills in (ids, hashes, errors).
"""

from __future__ import annotations

from typing import Any

from wa_sandbox import freeform
from wa_sandbox.config import SandboxConfig
from wa_sandbox.management import ControlError, quick_reply_label
from wa_sandbox.media import Media

MEDIA_KINDS = frozenset({"image", "video", "audio", "document", "sticker"})
KINDS = (
    frozenset({"text", "button", "interactive", "location", "contacts", "reaction", "unsupported"})
    | MEDIA_KINDS
)

UNSUPPORTED_ERROR = {
    "code": 131051,
    "title": "Message type unknown",
    "message": "Message type unknown",
    "error_data": {"details": "Message type is currently not supported."},
}
"""The ``errors[]`` entry of an ``unsupported`` message (Meta: "Unsupported messages
webhook reference")."""


def _bad(details: str) -> ControlError:
    return ControlError(400, details)


def _string(obj: dict[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise _bad(f"message.{where}.{key} must be a string")
    return value


def _pick(obj: dict[str, Any], keys: tuple[str, ...], where: str) -> dict[str, Any]:
    """The given keys of ``obj`` that are present, checked as strings, in Meta's order."""
    out: dict[str, Any] = {}
    for key in keys:
        value = _string(obj, key, where, required=False)
        if value is not None:
            out[key] = value
    return out


def content(kind: str, given: Any) -> Any:
    """The ``<kind>`` value of a non-media message item, from the control call's object."""
    if kind == "contacts":
        return _contacts(given)
    if not isinstance(given, dict):
        raise _bad(f"message.{kind} must be an object")
    if kind == "text":
        return {"body": _string(given, "body", kind)}
    if kind == "button":
        return {"payload": _string(given, "payload", kind), "text": _string(given, "text", kind)}
    if kind == "interactive":
        return _interactive(given)
    if kind == "location":
        return _location(given)
    if kind == "reaction":
        reaction: dict[str, Any] = {"message_id": _string(given, "message_id", kind)}
        if given.get("emoji") is not None:  # left out when the user removes a reaction
            reaction["emoji"] = _string(given, "emoji", kind)
        return reaction
    if kind == "unsupported":
        return {"type": _string(given, "type", kind, required=False) or "unknown"}
    raise _bad(f"message.type {kind!r} is not one the sandbox sends")


def _interactive(given: dict[str, Any]) -> dict[str, Any]:
    reply_type = given.get("type")
    if reply_type not in ("button_reply", "list_reply"):
        raise _bad("message.interactive.type must be 'button_reply' or 'list_reply'")
    reply = given.get(reply_type)
    if not isinstance(reply, dict):
        raise _bad(f"message.interactive.{reply_type} must be an object")
    where = f"interactive.{reply_type}"
    chosen: dict[str, Any] = {
        "id": _string(reply, "id", where),
        "title": _string(reply, "title", where),
    }
    if reply_type == "list_reply":
        chosen |= _pick(reply, ("description",), where)
    return {"type": reply_type, reply_type: chosen}


def _number(value: Any) -> bool:
    """A finite JSON number: the management API's parser reads ``NaN`` and ``Infinity``,
    which no webhook consumer's JSON parser carries."""
    return isinstance(value, int | float) and freeform.finite_number(value) is not None


def _location(given: dict[str, Any]) -> dict[str, Any]:
    if not (_number(given.get("latitude")) and _number(given.get("longitude"))):
        raise _bad("message.location needs numbers latitude and longitude")
    location = {"latitude": given["latitude"], "longitude": given["longitude"]}
    return location | _pick(given, ("name", "address", "url"), "location")


def _contacts(given: Any) -> list[dict[str, Any]]:
    """Meta's contact objects (``addresses``, ``birthday``, ``emails``, ``name``, ``org``,
    ``phones``, ``urls``) as given; each needs ``name.formatted_name``."""
    if not isinstance(given, list) or not given:
        raise _bad("message.contacts must be a non-empty list of contact objects")
    for i, contact in enumerate(given):
        name = contact.get("name") if isinstance(contact, dict) else None
        if not isinstance(name, dict) or not isinstance(name.get("formatted_name"), str):
            raise _bad(f"message.contacts[{i}].name.formatted_name is required")
    return given


def media_content(kind: str, given: dict[str, Any], media: Media, url: str) -> dict[str, Any]:
    """A media item's object, in Meta's order: ``caption`` (image, video, document),
    ``filename`` (document), ``mime_type``, ``sha256``, ``id``, ``url``, then ``voice``
    (audio) or ``animated`` (sticker)."""
    out: dict[str, Any] = {}
    if kind in ("image", "video", "document"):
        out |= _pick(given, ("caption",), kind)
    if kind == "document" and media.filename is not None:
        out["filename"] = media.filename
    out |= {"mime_type": media.mime_type, "sha256": media.sha256, "id": media.id, "url": url}
    for flag, of in (("voice", "audio"), ("animated", "sticker")):
        if kind == of:
            value = given.get(flag, False)
            if not isinstance(value, bool):
                raise _bad(f"message.{kind}.{flag} must be a boolean")
            out[flag] = value
    return out


def item(
    wamid: str,
    timestamp: int,
    kind: str,
    value: Any,
    *,
    wa_id: str | None,
    user_id: str | None,
    context: dict[str, str] | None,
) -> dict[str, Any]:
    """One ``messages[]`` item: ``context`` (a reply), ``from`` (left out for a username
    user without a shared number) and ``from_user_id``, ``id``, ``timestamp``, ``type``,
    and the kind's object (``errors`` too for an unsupported message)."""
    message: dict[str, Any] = {}
    if context is not None:
        message["context"] = context
    if wa_id is not None:
        message["from"] = wa_id
    if user_id is not None:
        message["from_user_id"] = user_id
    message |= {"id": wamid, "timestamp": str(timestamp), "type": kind}
    if kind == "unsupported":
        message["errors"] = [dict(UNSUPPORTED_ERROR)]
    message[kind] = value
    return message


def quick_reply(config: SandboxConfig, sent: dict[str, Any], index: int) -> tuple[str, str]:
    """The label and payload of the quick-reply button ``index`` of a sent template."""
    tpl = sent["body"]["template"]
    template = config.template(tpl["name"], tpl["language"]["code"])
    button = next(
        (
            c
            for c in (template.components if template is not None else [])
            if c.type == "button"
            and (c.sub_type or "quick_reply") == "quick_reply"
            and (c.index or 0) == index
        ),
        None,
    )
    if button is None:
        raise ControlError(404, f"the template has no quick-reply button {index}")
    label = quick_reply_label(button)
    for component in tpl.get("components") or []:
        if (
            str(component.get("type", "")).lower() == "button"
            and str(component.get("sub_type", "")).lower() == "quick_reply"
            and str(component.get("index")) == str(index)
        ):
            for parameter in component.get("parameters") or []:
                if isinstance(parameter.get("payload"), str):
                    return label, parameter["payload"]
    return label, label
