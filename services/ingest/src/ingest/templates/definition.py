"""What a send of a template must carry, read from the template's definition in Meta's
catalogue.

A definition (``GET /{waba-id}/message_templates``, Meta's "Template management" guide,
developers.facebook.com/documentation/business-messaging/whatsapp/templates/
template-management) lists upper-case components: ``HEADER`` (``format`` TEXT with at most
one ``{{…}}`` variable, or IMAGE, VIDEO, DOCUMENT, LOCATION), ``BODY`` (``text`` with
positional ``{{1}}``… or, under ``parameter_format`` NAMED, ``{{name}}`` variables),
``FOOTER``, and ``BUTTONS`` whose ``buttons`` are numbered by their position: a ``URL``
button whose ``url`` has a variable takes its suffix, ``COPY_CODE`` a coupon code, ``OTP``
(authentication templates) the code, sent as a ``url`` button; ``QUICK_REPLY`` and ``FLOW``
may carry a payload; others take nothing. Each becomes a :class:`Slot`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
"""A ``{{1}}`` or ``{{name}}`` placeholder in a component's text."""
MEDIA_FORMATS = frozenset({"image", "video", "document", "location"})
TemplateStatus = Literal["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED", "IN_APPEAL"]


@dataclass(frozen=True)
class Slot:
    """One component a send must (or may) carry, and what its parameters must be.

    ``kind`` and ``index`` are how a send names it (``{"type": "button", "index": "0"}``);
    ``parameter`` the type every parameter must have (``text``, ``image``, ``coupon_code``,
    ``payload``; ``None`` for a body, whose parameters may be ``text``, ``currency`` or
    ``date_time``); ``names`` the variable names of a NAMED template, else the count of
    positional ones in ``count``."""

    kind: Literal["header", "body", "button"]
    count: int
    parameter: str | None
    sub_type: str | None = None
    index: int | None = None
    names: tuple[str, ...] = ()
    required: bool = True
    text: str | None = None
    """The component's text with its placeholders, for the length after substitution."""
    max_text: int | None = None
    """At most this many characters once the parameters are substituted (Meta's limits:
    body 1,024, header 60)."""
    max_parameter: int | None = None
    """At most this many characters per parameter (coupon and OTP codes: 15)."""

    @property
    def label(self) -> str:
        return self.kind if self.index is None else f"button {self.index}"


@dataclass(frozen=True)
class Definition:
    """One template in one language, as the catalogue holds it."""

    waba_id: str
    name: str
    language: str
    category: str
    status: str
    components: list[dict[str, Any]] = field(default_factory=list)
    parameter_format: str = "POSITIONAL"
    meta_id: str | None = None

    @property
    def named(self) -> bool:
        return self.parameter_format.upper() == "NAMED"

    def slots(self) -> list[Slot]:
        """The components a send must or may carry; raises nothing (an unknown component
        type takes no parameters, as Meta's does not either)."""
        found: list[Slot] = []
        for component in self.components:
            kind = str(component.get("type", "")).upper()
            if kind == "HEADER":
                found.extend(self._header(component))
            elif kind == "BODY":
                found.append(self._text_slot("body", str(component.get("text") or ""), 1024))
            elif kind == "BUTTONS":
                buttons = component.get("buttons")
                for index, button in enumerate(buttons if isinstance(buttons, list) else []):
                    if isinstance(button, dict):
                        found.extend(_button(index, button))
        return [slot for slot in found if slot.count or not slot.required]

    def _header(self, component: dict[str, Any]) -> list[Slot]:
        media = str(component.get("format") or "TEXT").lower()
        if media in MEDIA_FORMATS:
            return [Slot("header", 1, media)]
        return [self._text_slot("header", str(component.get("text") or ""), 60)]

    def _text_slot(self, kind: Literal["header", "body"], text: str, limit: int) -> Slot:
        variables = list(dict.fromkeys(VARIABLE.findall(text)))
        names = tuple(variables) if self.named else ()
        parameter = "text" if kind == "header" else None
        return Slot(kind, len(variables), parameter, names=names, text=text, max_text=limit)


def _button(index: int, button: dict[str, Any]) -> list[Slot]:
    kind = str(button.get("type", "")).upper()
    if kind == "URL" and VARIABLE.search(str(button.get("url") or "")):
        return [Slot("button", 1, "text", sub_type="url", index=index)]
    if kind == "COPY_CODE":
        return [Slot("button", 1, "coupon_code", "copy_code", index, max_parameter=15)]
    if kind == "OTP":
        return [Slot("button", 1, "text", sub_type="url", index=index, max_parameter=15)]
    if kind in ("QUICK_REPLY", "FLOW"):
        sub_type = kind.lower()
        parameter = "payload" if kind == "QUICK_REPLY" else "action"
        return [Slot("button", 1, parameter, sub_type=sub_type, index=index, required=False)]
    return []
