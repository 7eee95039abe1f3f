"""What a send of a template must carry, read from the template's definition in Meta's
catalogue.

A definition (``GET /{waba-id}/message_templates``, Meta's "Template management" guide,
developers.facebook.com/documentation/business-messaging/whatsapp/templates/
template-management) lists upper-case components: ``HEADER`` (``format`` TEXT with at most
one ``{{…}}`` variable, or IMAGE, VIDEO, DOCUMENT, LOCATION, and newer ones such as
PRODUCT), ``BODY`` (``text`` with positional ``{{1}}``… or, under ``parameter_format``
NAMED, ``{{name}}`` variables), ``FOOTER``, ``BUTTONS`` whose ``buttons`` are numbered by
their position, and newer ones (``CAROUSEL``, ``LIMITED_TIME_OFFER``, …). Each part a send
fills becomes a :class:`Slot`.

Buttons (Meta's "Send message templates" reference and its guides per template type): a
``URL`` button whose ``url`` has a variable takes its suffix; ``COPY_CODE`` a coupon code;
``OTP`` (authentication templates, stored by Meta as a ``URL`` button) the code, sent as a
``url`` button; ``QUICK_REPLY`` may carry a payload; ``FLOW`` may carry an ``action``
(``flow_token``, ``flow_action_data``); ``CATALOG`` may carry an ``action``
(``thumbnail_product_retailer_id``); ``MPM`` must carry an ``action``
(``thumbnail_product_retailer_id`` and ``sections``); ``PHONE_NUMBER`` and a URL without a
variable take nothing. A part the door does not know (a newer button, header format or
component) becomes an open slot: whatever the send carries passes, and Meta decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
"""A ``{{1}}`` or ``{{name}}`` placeholder in a component's text."""
MEDIA_FORMATS = frozenset({"image", "video", "document", "location"})
TemplateStatus = Literal["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED", "IN_APPEAL"]

HEADER_PARAMETER_MAX = 60
"""Meta's text object: a header's text parameter is at most 60 characters (Messages API
reference, "text object")."""
BODY_PARAMETER_MAX = 32768
"""Meta's text object: a body's text parameter is at most 32,768 characters when the body
is the only component, 1,024 "if other component types are included". Only the larger is
enforced: integrators report the 1,024 is not applied to parameters at send time, and
which components count is not stated (assumed; a late Meta error is better than a false
422)."""
CODE_MAX = 15
"""Meta: a coupon code ("Coupon code templates") and an authentication template's one-time
code ("Authentication templates"; Meta answers "template parameter at index 0 exceeds the
maximum length in the AUTHENTICATION category (15 characters)") are at most 15
characters."""


@dataclass(frozen=True)
class Slot:
    """One component a send must (or may) carry, and what its parameters must be.

    ``kind`` and ``index`` are how a send names it (``{"type": "button", "index": "0"}``);
    ``parameter`` the type every parameter must have (``text``, ``image``, ``coupon_code``,
    ``payload``, ``action``; ``None`` for a body or text header, whose parameters may be
    ``text``, ``currency`` or ``date_time``); ``names`` the variable names of a NAMED
    template, else the count of positional ones in ``count``; ``required`` False for a
    button that may be left out, which then takes at most ``count`` parameters."""

    kind: Literal["header", "body", "button"]
    count: int
    parameter: str | None
    sub_type: str | None = None
    index: int | None = None
    names: tuple[str, ...] = ()
    required: bool = True
    max_parameter: int | None = None
    """At most this many characters per text parameter (see the limits above)."""
    open: bool = False
    """A part whose parameters the door does not know: any send of it passes."""

    @property
    def label(self) -> str:
        return self.kind if self.index is None else f"button {self.index}"

    @property
    def textual(self) -> bool:
        """A body or text header: the parameters Meta checks for whitespace and names."""
        return self.kind != "button" and self.parameter is None


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

    @property
    def authentication(self) -> bool:
        return self.category.upper() == "AUTHENTICATION"

    def slots(self) -> list[Slot]:
        """The components a send must or may carry; raises nothing. A component type
        outside header, body and buttons gives no slot: the door passes what a send
        carries for it (carousel cards, a limited-time offer's expiry, …)."""
        found: list[Slot] = []
        for component in self.components:
            kind = str(component.get("type", "")).upper()
            if kind == "HEADER":
                found.append(self._header(component))
            elif kind == "BODY":
                limit = CODE_MAX if self.authentication else BODY_PARAMETER_MAX
                found.append(self._text_slot("body", str(component.get("text") or ""), limit))
            elif kind == "BUTTONS":
                buttons = component.get("buttons")
                for index, button in enumerate(buttons if isinstance(buttons, list) else []):
                    if isinstance(button, dict):
                        found.extend(_button(index, button, self.authentication))
        return [slot for slot in found if slot.count or slot.open or not slot.required]

    def _header(self, component: dict[str, Any]) -> Slot:
        media = str(component.get("format") or "TEXT").lower()
        if media in MEDIA_FORMATS:
            return Slot("header", 1, media)
        if media != "text":
            return Slot("header", 0, None, required=False, open=True)
        return self._text_slot("header", str(component.get("text") or ""), HEADER_PARAMETER_MAX)

    def _text_slot(self, kind: Literal["header", "body"], text: str, limit: int) -> Slot:
        variables = list(dict.fromkeys(VARIABLE.findall(text)))
        names = tuple(variables) if self.named else ()
        return Slot(kind, len(variables), None, names=names, max_parameter=limit)


def _button(index: int, button: dict[str, Any], authentication: bool) -> list[Slot]:
    kind = str(button.get("type", "")).upper()
    if kind == "URL":
        if not VARIABLE.search(str(button.get("url") or "")):
            return []
        # An authentication template's OTP button is stored as a URL button; its
        # variable is the code.
        limit = CODE_MAX if authentication else None
        return [Slot("button", 1, "text", "url", index, max_parameter=limit)]
    if kind == "OTP":
        return [Slot("button", 1, "text", "url", index, max_parameter=CODE_MAX)]
    if kind == "COPY_CODE":
        return [Slot("button", 1, "coupon_code", "copy_code", index, max_parameter=CODE_MAX)]
    if kind == "QUICK_REPLY":
        return [Slot("button", 1, "payload", "quick_reply", index, required=False)]
    if kind in ("FLOW", "CATALOG"):
        return [Slot("button", 1, "action", kind.lower(), index, required=False)]
    if kind == "MPM":
        return [Slot("button", 1, "action", "mpm", index)]
    if kind == "PHONE_NUMBER":
        return []
    return [Slot("button", 0, None, index=index, required=False, open=True)]
