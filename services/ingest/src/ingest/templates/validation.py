"""A template send checked against its definition, as Meta checks it, before anything is
sent: the same refusals Meta answers with 132000 (parameter count), 132012 (parameter
format) and 132018 (whitespace in a parameter), found at the door.

Meta's rules applied here (Cloud API "Send message templates" reference and the error-code
table, developers.facebook.com/documentation/business-messaging/whatsapp/): a component
with variables must be sent with exactly that many parameters; a header's parameter has the
header's format (text, image, video, document, location); body parameters are ``text``,
``currency`` (``fallback_value``, ISO 4217 ``code``, integer ``amount_1000``) or
``date_time`` (``fallback_value``); a NAMED template's parameters carry the variables'
``parameter_name`` s; text parameters hold no newline or tab and no more than four spaces in
a row; the body is at most 1,024 characters and a text header 60 once filled in; coupon and
one-time codes are at most 15 characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ingest.templates.definition import VARIABLE, Definition, Slot

BODY_PARAMETERS = frozenset({"text", "currency", "date_time"})
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
WHITESPACE_RUN = re.compile(r"[\n\t]| {5,}")


@dataclass(frozen=True)
class Mismatch(Exception):
    """A send that does not fit its template: ``path`` names the part (``template.
    components[1].parameters[0]``), ``message`` says what the definition wants."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def check(definition: Definition, components: list[dict[str, Any]]) -> None:
    """Raises :class:`Mismatch` for the first component that does not fit."""
    slots: dict[tuple[str, int | None], Slot] = {(s.kind, s.index): s for s in definition.slots()}
    sent: dict[tuple[str, int | None], int] = {}
    for position, component in enumerate(components):
        path = f"template.components[{position}]"
        key = _key(component, path)
        if key in sent:
            raise Mismatch(path, f"a second {_label(key)} component")
        sent[key] = position
        slot = slots.get(key)
        parameters = component.get("parameters") or []
        if slot is None:
            if parameters:
                raise Mismatch(
                    f"{path}.parameters",
                    f"{definition.name} ({definition.language}) has no {_label(key)} that "
                    f"takes parameters; send none",
                )
            continue
        _check_slot(slot, component, parameters, path)
    for key, slot in slots.items():
        if slot.required and key not in sent:
            raise Mismatch(
                "template.components",
                f"{definition.name} ({definition.language}) needs a {slot.label} component "
                f"with {_wanted(slot)}",
            )


def _key(component: dict[str, Any], path: str) -> tuple[str, int | None]:
    kind = str(component.get("type", ""))
    if kind != "button":
        return (kind, None)
    index = component.get("index")
    if isinstance(index, str) and index.isascii() and index.isdigit() and len(index) <= 2:
        return (kind, int(index))
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < 100:
        return (kind, index)
    raise Mismatch(f"{path}.index", 'a button component needs its index, e.g. "0"')


def _label(key: tuple[str, int | None]) -> str:
    kind, index = key
    return kind if index is None else f"button {index}"


def _wanted(slot: Slot) -> str:
    if slot.names:
        return f"the named parameters {', '.join(slot.names)}"
    noun = "parameter" if slot.count == 1 else "parameters"
    kind = f"{slot.parameter} " if slot.parameter else ""
    return f"{slot.count} {kind}{noun}"


def _check_slot(
    slot: Slot,
    component: dict[str, Any],
    parameters: list[dict[str, Any]],
    path: str,
) -> None:
    if slot.sub_type is not None and component.get("sub_type") != slot.sub_type:
        raise Mismatch(f"{path}.sub_type", f"{slot.label} is a {slot.sub_type} button")
    if len(parameters) != slot.count and (slot.required or parameters):
        raise Mismatch(
            f"{path}.parameters", f"{slot.label} takes {_wanted(slot)}, not {len(parameters)}"
        )
    filled: dict[str, str] = {}
    for number, parameter in enumerate(parameters, start=1):
        where = f"{path}.parameters[{number - 1}]"
        text = _check_parameter(slot, parameter, where)
        name = parameter.get("parameter_name")
        if slot.names:
            if name not in slot.names or name in filled:
                raise Mismatch(
                    f"{where}.parameter_name",
                    f"{slot.label} takes {_wanted(slot)}, each once",
                )
            filled[str(name)] = text
        else:
            filled[str(number)] = text
    if slot.text is not None and slot.max_text is not None:
        length = len(VARIABLE.sub(lambda m: filled.get(m.group(1), ""), slot.text))
        if length > slot.max_text:
            raise Mismatch(
                f"{path}.parameters",
                f"the {slot.label} would be {length} characters once filled in; at most "
                f"{slot.max_text}",
            )


def _check_parameter(slot: Slot, parameter: dict[str, Any], where: str) -> str:
    """The parameter's text as it fills its placeholder; raises :class:`Mismatch`."""
    kind = parameter.get("type")
    allowed = BODY_PARAMETERS if slot.parameter is None else {slot.parameter}
    if kind not in allowed:
        raise Mismatch(f"{where}.type", f"must be {' or '.join(sorted(allowed))}")
    value = parameter.get(str(kind))
    if kind == "text":
        return _text(value, slot, f"{where}.text")
    if kind == "currency":
        return _currency(value, f"{where}.currency")
    if kind == "date_time":
        return _fallback(value, f"{where}.date_time")
    if kind in ("image", "video", "document"):
        _media(value, f"{where}.{kind}")
        return ""
    if kind == "location":
        _location(value, f"{where}.location")
        return ""
    if kind == "coupon_code":
        return _text(value, slot, f"{where}.coupon_code")
    return _text(value, slot, f"{where}.{kind}")  # a quick reply's payload, a flow's action


def _text(value: Any, slot: Slot, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Mismatch(where, "must be a non-empty string")
    if slot.kind != "button" and WHITESPACE_RUN.search(value):
        raise Mismatch(where, "must hold no newline, no tab and at most four spaces in a row")
    if slot.max_parameter is not None and len(value) > slot.max_parameter:
        raise Mismatch(where, f"at most {slot.max_parameter} characters")
    return value


def _currency(value: Any, where: str) -> str:
    if not isinstance(value, dict):
        raise Mismatch(where, "must be an object with fallback_value, code and amount_1000")
    if not isinstance(value.get("code"), str) or not CURRENCY_CODE.match(value["code"]):
        raise Mismatch(f"{where}.code", "must be an ISO 4217 code such as USD")
    amount = value.get("amount_1000")
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise Mismatch(f"{where}.amount_1000", "must be an integer (the amount times 1,000)")
    return _fallback(value, where)


def _fallback(value: Any, where: str) -> str:
    fallback = value.get("fallback_value") if isinstance(value, dict) else None
    if not isinstance(fallback, str) or not fallback.strip():
        raise Mismatch(f"{where}.fallback_value", "must be a non-empty string")
    if WHITESPACE_RUN.search(fallback):
        raise Mismatch(
            f"{where}.fallback_value",
            "must hold no newline, no tab and at most four spaces in a row",
        )
    return fallback


def _media(value: Any, where: str) -> None:
    if not isinstance(value, dict) or sum(k in value for k in ("id", "link")) != 1:
        raise Mismatch(where, "must be an object with either an id or a link")
    given = value.get("id", value.get("link"))
    if not isinstance(given, str) or not given:
        raise Mismatch(where, "id or link must be a non-empty string")


def _location(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise Mismatch(where, "must be an object with latitude and longitude")
    for axis, bound in (("latitude", 90), ("longitude", 180)):
        number = value.get(axis)
        if isinstance(number, str):
            try:
                number = float(number)
            except ValueError:
                number = None
        if not isinstance(number, int | float) or isinstance(number, bool) or abs(number) > bound:
            raise Mismatch(f"{where}.{axis}", f"must be a number within ±{bound}")
