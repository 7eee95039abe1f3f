"""Free-form message kinds a business sends inside the 24h window, checked as Meta does:
``interactive`` (reply buttons, list, CTA URL), ``location``, ``contacts``, ``reaction``.

Limits from Meta's "Interactive reply buttons messages", "Interactive list messages",
"Interactive CTA URL button messages", "Location messages", "Contacts messages" and
"Reaction messages". A required field missing is 131008 "Required parameter is missing";
a value out of its limits is 131009 "Parameter value is not valid" (Meta's codes; which of
the two Meta answers in each case is assumed from its code descriptions). Interactive kinds
the sandbox does not model (``flow``, ``product``, ``product_list``, …) pass unchecked.
"""

from __future__ import annotations

import math
from typing import Any

from wa_sandbox.errors import missing, not_valid

BODY_LIMIT = {"button": 1024, "list": 4096, "cta_url": 1024}
HEADER_TYPES = {
    "button": {"text", "image", "video", "document"},
    "list": {"text"},
    "cta_url": {"text", "image", "video", "document"},
}
UNMODELLED = frozenset(
    {
        "flow",
        "product",
        "product_list",
        "catalog_message",
        "location_request_message",
        "address_message",
        "call_permission_request",
        "voice_call",
        "carousel",
    }
)
HEADER_TEXT = 60
FOOTER_TEXT = 60
REPLY_ID, REPLY_TITLE, MAX_REPLY_BUTTONS = 256, 20, 3
LIST_BUTTON, MAX_SECTIONS, MAX_ROWS = 20, 10, 10
ROW_ID, ROW_TITLE, ROW_DESCRIPTION, SECTION_TITLE = 200, 24, 72, 24
CTA_DISPLAY_TEXT = 20


def _object(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        raise missing(f"The parameter {where}.{key} is required")
    if not isinstance(value, dict):
        raise not_valid(f"{where}.{key} must be an object")
    return value


def _string(parent: dict[str, Any], key: str, where: str, limit: int | None) -> str:
    value = parent.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        # a text of spaces only shows nothing: taken as missing, as an empty one (assumed)
        raise missing(f"The parameter {where}.{key} is required")
    if not isinstance(value, str):
        raise not_valid(f"{where}.{key} must be a string")
    if limit is not None and len(value) > limit:
        raise not_valid(f"{where}.{key} is longer than {limit} characters")
    return value


def _optional_string(parent: dict[str, Any], key: str, where: str, limit: int) -> None:
    if parent.get(key) is not None:
        _string(parent, key, where, limit)


def _list(parent: dict[str, Any], key: str, where: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        raise missing(f"The parameter {where}.{key} is required")
    if not isinstance(value, list):
        raise not_valid(f"{where}.{key} must be a list")
    return value


def check_interactive(obj: dict[str, Any]) -> str:
    """An ``interactive`` object; returns its type."""
    kind = obj.get("type")
    if kind is None:
        raise missing("The parameter interactive.type is required")
    if kind in UNMODELLED:
        return str(kind)
    if kind not in BODY_LIMIT:
        raise not_valid(f"interactive.type {kind!r} is not valid")
    body = _object(obj, "body", "interactive")
    _string(body, "text", "interactive.body", BODY_LIMIT[kind])
    if obj.get("header") is not None:
        _header(_object(obj, "header", "interactive"), kind)
    if obj.get("footer") is not None:
        _string(_object(obj, "footer", "interactive"), "text", "interactive.footer", FOOTER_TEXT)
    action = _object(obj, "action", "interactive")
    if kind == "button":
        _reply_buttons(action)
    elif kind == "list":
        _list_action(action)
    else:
        _cta_url(action)
    return str(kind)


def _header(header: dict[str, Any], kind: str) -> None:
    htype = header.get("type")
    if htype is None:
        raise missing("The parameter interactive.header.type is required")
    if htype not in HEADER_TYPES[kind]:
        raise not_valid(f"a {kind} message cannot have a {htype!r} header")
    if htype == "text":
        _string(header, "text", "interactive.header", HEADER_TEXT)
        return
    media = _object(header, str(htype), "interactive.header")
    if not (isinstance(media.get("id"), str) or isinstance(media.get("link"), str)):
        raise missing(f"interactive.header.{htype} needs an id or a link")


def _unique(values: list[str], what: str) -> None:
    if len(set(values)) != len(values):
        raise not_valid(f"{what} must be unique within the message")


def _reply_buttons(action: dict[str, Any]) -> None:
    buttons = _list(action, "buttons", "interactive.action")
    if not 1 <= len(buttons) <= MAX_REPLY_BUTTONS:
        raise not_valid(f"interactive.action.buttons must hold 1 to 3 buttons, not {len(buttons)}")
    ids, titles = [], []
    for i, button in enumerate(buttons):
        where = f"interactive.action.buttons[{i}]"
        if not isinstance(button, dict):
            raise not_valid(f"{where} must be an object")
        if button.get("type") != "reply":
            raise not_valid(f"{where}.type must be 'reply'")
        reply = _object(button, "reply", where)
        ids.append(_string(reply, "id", f"{where}.reply", REPLY_ID))
        titles.append(_string(reply, "title", f"{where}.reply", REPLY_TITLE))
    _unique(ids, "button ids")
    _unique(titles, "button titles")


def _list_action(action: dict[str, Any]) -> None:
    _string(action, "button", "interactive.action", LIST_BUTTON)
    sections = _list(action, "sections", "interactive.action")
    if not 1 <= len(sections) <= MAX_SECTIONS:
        raise not_valid(f"interactive.action.sections must hold 1 to 10, not {len(sections)}")
    ids: list[str] = []
    for i, section in enumerate(sections):
        where = f"interactive.action.sections[{i}]"
        if not isinstance(section, dict):
            raise not_valid(f"{where} must be an object")
        if len(sections) > 1:
            _string(section, "title", where, SECTION_TITLE)
        else:
            _optional_string(section, "title", where, SECTION_TITLE)
        rows = _list(section, "rows", where)
        if not rows:
            raise not_valid(f"{where}.rows must hold at least one row")
        for j, row in enumerate(rows):
            row_where = f"{where}.rows[{j}]"
            if not isinstance(row, dict):
                raise not_valid(f"{row_where} must be an object")
            ids.append(_string(row, "id", row_where, ROW_ID))
            _string(row, "title", row_where, ROW_TITLE)
            _optional_string(row, "description", row_where, ROW_DESCRIPTION)
    if len(ids) > MAX_ROWS:
        raise not_valid(f"a list holds at most {MAX_ROWS} rows in all, not {len(ids)}")
    _unique(ids, "row ids")


def _cta_url(action: dict[str, Any]) -> None:
    name = _string(action, "name", "interactive.action", None)
    if name != "cta_url":
        raise not_valid("interactive.action.name must be 'cta_url'")
    parameters = _object(action, "parameters", "interactive.action")
    _string(parameters, "display_text", "interactive.action.parameters", CTA_DISPLAY_TEXT)
    url = _string(parameters, "url", "interactive.action.parameters", None)
    if not url.startswith(("https://", "http://")):
        raise not_valid("interactive.action.parameters.url must be an http(s) URL")


def finite_number(value: Any) -> float | None:
    """A number, or a string ``float()`` reads, as a finite float; else None. ``float()``
    reads ``"nan"`` and ``"inf"`` (and json.loads ``NaN``), and NaN compares false with any
    bound, so a range check alone would let it through; an integer too large for a float
    is out of any range."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _coordinate(obj: dict[str, Any], key: str, bound: float) -> None:
    """A number, or a string holding one (the Graph API reads parameters loosely: assumed),
    within ±``bound``."""
    value = obj.get(key)
    if value is None:
        raise missing(f"The parameter location.{key} is required")
    number = finite_number(value)
    if number is None or abs(number) > bound:
        raise not_valid(f"location.{key} must be a number from -{bound:g} to {bound:g}")


def check_location(obj: dict[str, Any]) -> None:
    _coordinate(obj, "latitude", 90)
    _coordinate(obj, "longitude", 180)
    for key in ("name", "address"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise not_valid(f"location.{key} must be a string")


def check_contacts(value: Any) -> None:
    """``contacts``: a non-empty list of contact objects, each with ``name.formatted_name``."""
    if value is None or value == []:
        raise missing("The parameter contacts is required")
    if not isinstance(value, list):
        raise not_valid("contacts must be a list of contact objects")
    for i, contact in enumerate(value):
        if not isinstance(contact, dict):
            raise not_valid(f"contacts[{i}] must be an object")
        name = _object(contact, "name", f"contacts[{i}]")
        _string(name, "formatted_name", f"contacts[{i}].name", None)
        for key in ("phones", "emails", "urls", "addresses"):
            if contact.get(key) is not None and not (
                isinstance(contact[key], list) and all(isinstance(x, dict) for x in contact[key])
            ):
                raise not_valid(f"contacts[{i}].{key} must be a list of objects")


def check_reaction(obj: dict[str, Any]) -> str:
    """``reaction``: the wamid reacted to (returned), and one emoji or ``""`` (removes it)."""
    message_id = _string(obj, "message_id", "reaction", None)
    emoji = obj.get("emoji")
    if emoji is None:
        raise missing("The parameter reaction.emoji is required")
    if not isinstance(emoji, str) or (emoji != "" and not is_single_emoji(emoji)):
        raise not_valid(f"reaction.emoji must be a single emoji, not {emoji!r}")
    return message_id


_ZWJ, _VS16, _KEYCAP = 0x200D, 0xFE0F, 0x20E3
_MODIFIERS = range(0x1F3FB, 0x1F400)
_TAGS = range(0xE0020, 0xE0080)
_FLAGS = range(0x1F1E6, 0x1F200)
_EMOJI_RANGES = (
    range(0x1F000, 0x1FB00),
    range(0x2600, 0x27C0),
    range(0x2300, 0x2400),
    range(0x2B00, 0x2C00),
    range(0x2190, 0x2200),
)
_EMOJI_SINGLES = frozenset({0xA9, 0xAE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D})


def _base(cp: int) -> bool:
    return cp in _EMOJI_SINGLES or any(cp in r for r in _EMOJI_RANGES)


def is_single_emoji(text: str) -> bool:
    """One emoji: a base emoji with its modifiers, a ZWJ sequence of them, a flag (two
    regional indicators) or a keycap. An approximation of Unicode's emoji grammar."""
    cps = [ord(c) for c in text]
    if len(cps) == 2 and all(cp in _FLAGS for cp in cps):
        return True
    if len(cps) in (2, 3) and chr(cps[0]) in "0123456789#*" and cps[-1] == _KEYCAP:
        return len(cps) == 2 or cps[1] == _VS16
    parts = [p for p in text.split(chr(_ZWJ))]
    for part in parts:
        part_cps = [ord(c) for c in part]
        if not part_cps or not _base(part_cps[0]) or part_cps[0] in _FLAGS:
            return False
        if any(cp != _VS16 and cp not in _MODIFIERS and cp not in _TAGS for cp in part_cps[1:]):
            return False
    return True
