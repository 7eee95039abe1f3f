"""A template send checked against its definition, as Meta checks it, before anything is
sent: the same refusals Meta answers with 132000 (parameter count), 132012 (parameter
format) and 132018 (a parameter's content), found at the door.

The door must never refuse a send Meta would take: each rule here is one Meta documents
(Cloud API "Send message templates" and Messages API reference, the template guides and
the error-code table, developers.facebook.com/documentation/business-messaging/whatsapp/)
or, where Meta is silent, one the sandbox answers the same way; anything else passes and
Meta decides. The rules: a component with variables is sent with exactly that many
parameters (an optional button with at most that many); a media header's parameter has
the header's format and an ``id`` or a ``link``; body and text-header parameters are
``text``, ``currency`` (``fallback_value``, ``code``, integer ``amount_1000``) or
``date_time`` (``fallback_value``); a NAMED template's parameters carry the variables'
``parameter_name`` s, a POSITIONAL template's none (as the sandbox answers; Meta is
silent); body and header text parameters hold no line break (``\\n`` or ``\\r``) or tab
and no more than four spaces in a row; the per-parameter lengths in
:mod:`ingest.templates.definition`; a flow or catalog button's ``action`` is an object, a
multi-product button's names its thumbnail and sections. Component types, header formats
and button types the door does not know pass.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ingest.templates.definition import Definition, Slot

TEXT_PARAMETERS = frozenset({"text", "currency", "date_time"})
"""Meta: "For text-based templates, the only supported parameter types are currency,
date_time, and text" (body and text header alike)."""
KNOWN_COMPONENTS = frozenset({"header", "body", "button", "footer"})
"""Send components the door checks; others (``limited_time_offer``, ``carousel``, …) pass."""
CURRENCY_CODE = re.compile(r"^[A-Za-z]{3}$")
INTEGER = re.compile(r"-?[0-9]+")
"""Matched whole (``fullmatch``): ``$`` would let a trailing newline through."""
WHITESPACE_RUN = re.compile(r"[\n\r\t]| {5,}")
"""Meta's 132018: "Param text cannot have new-line/tab characters or more than 4
consecutive spaces". ``\\r`` counts as a new line, as the sandbox answers (assumed)."""


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
        if key[0] not in KNOWN_COMPONENTS:
            continue
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
        if not slot.open:
            _check_slot(slot, component, parameters, path)
    for key, slot in slots.items():
        if slot.required and key not in sent:
            raise Mismatch(
                "template.components",
                f"{definition.name} ({definition.language}) needs a {slot.label} component "
                f"with {_wanted(slot)}",
            )


def _key(component: dict[str, Any], path: str) -> tuple[str, int | None]:
    """Meta's component ``type`` (any case, as the sandbox reads it) and a button's
    ``index``, a number under 100 given as a string or an integer."""
    kind = str(component.get("type", "")).lower()
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
    return f"{'at most ' if not slot.required else ''}{slot.count} {kind}{noun}"


def _check_slot(
    slot: Slot,
    component: dict[str, Any],
    parameters: list[dict[str, Any]],
    path: str,
) -> None:
    sub_type = component.get("sub_type")
    # Meta names sub-types in lower case; another case is not known to be refused.
    if slot.sub_type is not None and str(sub_type or "").lower() != slot.sub_type:
        raise Mismatch(f"{path}.sub_type", f"{slot.label} is a {slot.sub_type} button")
    if len(parameters) > slot.count or (slot.required and len(parameters) != slot.count):
        raise Mismatch(
            f"{path}.parameters", f"{slot.label} takes {_wanted(slot)}, not {len(parameters)}"
        )
    filled: set[str] = set()
    for number, parameter in enumerate(parameters):
        where = f"{path}.parameters[{number}]"
        _check_parameter(slot, parameter, where)
        if not slot.textual:
            continue
        name = parameter.get("parameter_name")
        if slot.names:
            if name not in slot.names or name in filled:
                raise Mismatch(
                    f"{where}.parameter_name",
                    f"{slot.label} takes {_wanted(slot)}, each once",
                )
            filled.add(str(name))
        elif name is not None:
            raise Mismatch(
                f"{where}.parameter_name",
                "this template's parameters are positional; send them in order, unnamed",
            )


def _check_parameter(slot: Slot, parameter: dict[str, Any], where: str) -> None:
    kind = parameter.get("type")
    allowed = TEXT_PARAMETERS if slot.parameter is None else {slot.parameter}
    if kind not in allowed:
        raise Mismatch(f"{where}.type", f"must be {' or '.join(sorted(allowed))}")
    value = parameter.get(str(kind))
    if kind == "currency":
        _currency(value, f"{where}.currency")
    elif kind == "date_time":
        _fallback(value, f"{where}.date_time")
    elif kind in ("image", "video", "document"):
        _media(value, f"{where}.{kind}")
    elif kind == "location":
        _location(value, f"{where}.location")
    elif kind == "action":
        _action(slot, value, f"{where}.action")
    else:  # text, a quick reply's payload, a coupon code
        _text(value, slot, f"{where}.{kind}")


def _text(value: Any, slot: Slot, where: str) -> None:
    """Meta refuses an empty text ("Parameter 'text' is mandatory"); whether it refuses
    one of spaces only is not known, so that passes."""
    if not isinstance(value, str) or not value:
        raise Mismatch(where, "must be a non-empty string")
    if slot.textual and WHITESPACE_RUN.search(value):
        raise Mismatch(
            where, "must hold no line break (\\n, \\r), no tab and at most four spaces in a row"
        )
    # Code points: never more than UTF-16 units, so under either count Meta refuses too.
    if slot.max_parameter is not None and len(value) > slot.max_parameter:
        raise Mismatch(where, f"at most {slot.max_parameter} characters")


def _currency(value: Any, where: str) -> None:
    """Meta: ``fallback_value``, ``code`` (ISO 4217) and ``amount_1000`` (the amount times
    1,000, an integer) are required. A code in lower case, or an integral amount given as
    ``10000.0`` or ``"10000"``, is not known to be refused, so passes."""
    if not isinstance(value, dict):
        raise Mismatch(where, "must be an object with fallback_value, code and amount_1000")
    if not isinstance(value.get("code"), str) or not CURRENCY_CODE.fullmatch(value["code"]):
        raise Mismatch(f"{where}.code", "must be an ISO 4217 code such as USD")
    amount = value.get("amount_1000")
    integral = (
        (isinstance(amount, int) and not isinstance(amount, bool))
        or (isinstance(amount, float) and amount.is_integer())
        or (isinstance(amount, str) and INTEGER.fullmatch(amount) is not None)
    )
    if not integral:
        raise Mismatch(f"{where}.amount_1000", "must be an integer (the amount times 1,000)")
    _fallback(value, where)


def _fallback(value: Any, where: str) -> None:
    """Meta requires a ``fallback_value`` (the text the Cloud API always shows); its
    whitespace is not known to be checked, so only an empty one is refused."""
    fallback = value.get("fallback_value") if isinstance(value, dict) else None
    if not isinstance(fallback, str) or not fallback:
        raise Mismatch(f"{where}.fallback_value", "must be a non-empty string")


def _media(value: Any, where: str) -> None:
    """Meta's media object: an uploaded media ``id`` or a ``link``; one with both is left
    to Meta, as are ``caption`` and ``filename``."""
    if not isinstance(value, dict):
        raise Mismatch(where, "must be an object with an id or a link")
    given = [value.get(key) for key in ("id", "link") if key in value]
    if not any(
        (isinstance(v, str) and v) or (isinstance(v, int) and not isinstance(v, bool))
        for v in given
    ):
        raise Mismatch(where, "must have an id or a link")


COORDINATE_TEXT = re.compile(r"[+-]?[0-9]{1,30}(\.[0-9]{1,30})?")
MAX_COORDINATE = 32
"""A coordinate as a string: a plain decimal of at most 32 characters (17 significant
digits are all a double holds), the same rule as a location message's, so nothing longer
is carried to Meta as given."""


def _location(value: Any, where: str) -> None:
    """Meta's location header: ``latitude`` and ``longitude`` (numbers, or decimal strings
    of at most :data:`MAX_COORDINATE` characters, as Meta's examples send them), with
    ``name`` and ``address``, left to Meta."""
    if not isinstance(value, dict):
        raise Mismatch(where, "must be an object with latitude and longitude")
    for axis, bound in (("latitude", 90), ("longitude", 180)):
        given = value.get(axis)
        text_ok = not isinstance(given, str) or (
            len(given) <= MAX_COORDINATE and COORDINATE_TEXT.fullmatch(given) is not None
        )
        number = finite_number(given) if text_ok else None
        if number is None or abs(number) > bound:
            raise Mismatch(
                f"{where}.{axis}",
                f"must be a number within ±{bound} (as a string: a decimal of at most "
                f"{MAX_COORDINATE} characters)",
            )


def finite_number(value: Any) -> float | None:
    """A JSON number, or a string ``float()`` reads, as a finite float; else None. ``float()``
    reads ``"nan"``, ``"-Infinity"`` and ``"1e999"`` too, and NaN compares false with any
    bound, so a range check alone would let it through; an integer too large for a float
    is out of any range."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _action(slot: Slot, value: Any, where: str) -> None:
    """A flow button's action (optional ``flow_token`` and ``flow_action_data``; Meta's
    "Flows templates" guide), a catalog button's (optional
    ``thumbnail_product_retailer_id``; "Catalog templates"), a multi-product button's
    (``thumbnail_product_retailer_id`` and 1 to 10 ``sections`` of ``product_items``;
    "Multi-product message templates"). Finer limits are left to Meta."""
    if not isinstance(value, dict):
        raise Mismatch(where, "must be an object")
    if slot.sub_type != "mpm":
        return
    thumbnail = value.get("thumbnail_product_retailer_id")
    if not isinstance(thumbnail, str) or not thumbnail:
        raise Mismatch(
            f"{where}.thumbnail_product_retailer_id", "must name the thumbnail's product"
        )
    sections = value.get("sections")
    if not isinstance(sections, list) or not sections:
        raise Mismatch(f"{where}.sections", "must list at least one section of products")
