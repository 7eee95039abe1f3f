"""Meta's Business Management side: the template catalogue (``GET /{waba_id}/message_templates``),
the phone numbers (``GET /{waba_id}/phone_numbers``, ``GET /{phone_number_id}``) and the
account-health events the control API turns into webhooks.

Catalogue entries follow Meta's template definition format: upper-case component types,
``{{1}}``..``{{n}}`` (or ``{{name}}``) variables in the texts, one ``BUTTONS`` component.
Webhook values follow Meta's webhook references for ``message_template_status_update``,
``template_category_update``, ``phone_number_quality_update`` and ``account_update``
(docs/sandbox.md marks which fields are confirmed and which are assumed).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, Literal, TypeVar

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from wa_sandbox.config import (
    Component,
    MessagingLimit,
    QualityRating,
    SandboxConfig,
    Sender,
    Template,
    TemplateStatus,
    template_id,
)

DEFAULT_PAGE = 25
MAX_PAGE = 100

_HEADER_ORDER = {"header": 0, "body": 1, "footer": 2}
TEMPLATE_CURSOR = "wa-sandbox-template:"
PHONE_NUMBER_CURSOR = "wa-sandbox-phone-number:"
VERIFIED_NAME = "Sandbox Business"

# --- the catalogue ------------------------------------------------------------------------


def _title(template: Template) -> str:
    return template.name.replace("_", " ").capitalize()


def _placeholders(component: Component) -> list[str]:
    return ["{{" + v + "}}" for v in component.variables()]


def _example(component: Component, kind: Literal["header", "body"]) -> dict[str, Any] | None:
    """Meta's sample values for a text's variables (``example`` of a definition)."""
    variables = component.variables()
    if not variables:
        return None
    if component.named is not None:
        return {
            f"{kind}_text_named_params": [
                {"param_name": name, "example": f"sample {name}"} for name in variables
            ]
        }
    samples = [f"sample {v}" for v in variables]
    return {"header_text": samples} if kind == "header" else {"body_text": [samples]}


def _header(template: Template, component: Component) -> dict[str, Any]:
    if component.format not in (None, "text"):
        return {"type": "HEADER", "format": component.format.upper()}
    text = component.text or " ".join([_title(template), *_placeholders(component)])
    header: dict[str, Any] = {"type": "HEADER", "format": "TEXT", "text": text}
    example = _example(component, "header")
    if example is not None:
        header["example"] = example
    return header


def _body(template: Template, component: Component) -> dict[str, Any]:
    placeholders = _placeholders(component)
    if component.text is not None:
        text = component.text
    elif template.category == "authentication" and len(placeholders) == 1:
        text = f"*{placeholders[0]}* is your verification code."  # Meta's fixed wording
    elif placeholders:
        text = f"{_title(template)}: " + ", ".join(placeholders)
    else:
        text = f"{_title(template)}."
    body: dict[str, Any] = {"type": "BODY", "text": text}
    example = _example(component, "body")
    if example is not None:
        body["example"] = example
    return body


def _button(template: Template, component: Component) -> dict[str, Any]:
    sub_type = component.sub_type or "quick_reply"
    if template.category == "authentication" and sub_type != "quick_reply":
        return {
            "type": "OTP",
            "otp_type": component.otp_type,
            "text": component.text or "Copy code",
        }
    if sub_type == "quick_reply":
        return {"type": "QUICK_REPLY", "text": quick_reply_label(component)}
    if sub_type == "url":
        url = component.url or (
            f"https://example.com/{template.name}/" + ("{{1}}" if component.parameters else "")
        )
        button: dict[str, Any] = {"type": "URL", "text": component.text or "Open", "url": url}
        if component.parameters:
            button["example"] = [url.replace("{{1}}", "sample")]
        return button
    if sub_type == "copy_code":
        return {"type": "COPY_CODE", "example": component.example or "SAVE10"}
    if sub_type == "flow":
        return _flow_button(template, component)
    if sub_type == "catalog":
        # Meta's "Catalog templates": {"type": "CATALOG", "text": "View catalog"}.
        return {"type": "CATALOG", "text": component.text or "View catalog"}
    if sub_type == "mpm":
        # Meta's "Multi-product message templates": {"type": "MPM", "text": "View items"}.
        return {"type": "MPM", "text": component.text or "View items"}
    return {"type": sub_type.upper(), "text": component.text or sub_type.replace("_", " ")}


def quick_reply_label(component: Component) -> str:
    """A quick-reply button's label: its configured text, else ``Reply <n>``."""
    return component.text or f"Reply {(component.index or 0) + 1}"


def _flow_button(template: Template, component: Component) -> dict[str, Any]:
    """A flow button with the fields Meta's "Flows templates" guide creates it with
    (``flow_id``, ``flow_action``, ``navigate_screen``); that the catalogue lists them
    in the same form is assumed. The flow id is derived from the template, stable."""
    return {
        "type": "FLOW",
        "text": component.text or "Open",
        "flow_id": template_id(template.name, f"flow:{component.index or 0}"),
        "flow_action": "navigate",
        "navigate_screen": "WELCOME_SCREEN",
    }


def definition(template: Template) -> dict[str, Any]:
    """A template as Meta's catalogue lists it."""
    plain = sorted(
        (c for c in template.components if c.type != "button"),
        key=lambda c: _HEADER_ORDER[c.type],
    )
    components: list[dict[str, Any]] = []
    for component in plain:
        if component.type == "header":
            components.append(_header(template, component))
        elif component.type == "body":
            components.append(_body(template, component))
        else:
            text = component.text or "Sandbox sample message"
            components.append({"type": "FOOTER", "text": text})
    buttons = sorted(
        (c for c in template.components if c.type == "button"), key=lambda c: c.index or 0
    )
    if buttons:
        components.append({"type": "BUTTONS", "buttons": [_button(template, b) for b in buttons]})
    named = any(c.named is not None for c in template.components)
    return {
        "id": template.id,
        "name": template.name,
        "language": template.language,
        "status": template.status,
        "category": template.category.upper(),
        "parameter_format": "NAMED" if named else "POSITIONAL",
        "components": components,
    }


def _decode(prefix: str, cursor: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return raw.removeprefix(prefix) if raw.startswith(prefix) else None


def encode_cursor(prefix: str, key: str) -> str:
    """The opaque cursor of the listing item ``key`` (a template id, a phone number id)."""
    return base64.urlsafe_b64encode((prefix + key).encode()).decode().rstrip("=")


@dataclass(frozen=True)
class Span:
    """Where a page starts and ends in a listing, and whether there is more either side."""

    start: int
    end: int
    has_previous: bool
    has_next: bool


def span(ids: list[str], limit: int, *, after: str | None, before: str | None) -> Span | None:
    """The ``limit`` items after (or before) the item an already decoded cursor names;
    None when it names none."""
    if after is not None:
        if after not in ids:
            return None
        start = ids.index(after) + 1
        end = start + limit
    elif before is not None:
        if before not in ids:
            return None
        end = ids.index(before)
        start = max(0, end - limit)
    else:
        start, end = 0, limit
    return Span(start, end, has_previous=start > 0, has_next=end < len(ids))


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_previous: bool
    has_next: bool


def page(
    items: list[T],
    key: Callable[[T], str],
    prefix: str,
    limit: int,
    *,
    after: str | None,
    before: str | None,
) -> Page[T] | None:
    """The ``limit`` items after (or before) a cursor's item, in config order; None when
    the cursor (made by :func:`encode_cursor` with ``prefix``) names no item."""
    found = span(
        [key(item) for item in items],
        limit,
        after=None if after is None else _decode(prefix, after) or "",
        before=None if before is None else _decode(prefix, before) or "",
    )
    if found is None:
        return None
    return Page(items[found.start : found.end], found.has_previous, found.has_next)


# --- phone numbers ------------------------------------------------------------------------

HIGH_THROUGHPUT_MPS = 1000
"""Meta's higher throughput level is up to 1,000 messages per second, the standard one 80
(Meta: Cloud API Throughput)."""


@lru_cache(maxsize=1024)
def formatted_number(digits: str) -> str:
    """A number as Meta's ``display_phone_number`` shows it (``+1 555-010-0001``):
    libphonenumber's INTERNATIONAL format (assumed to be what Meta uses), ``+digits`` when
    the number cannot be parsed."""
    plain = "".join(ch for ch in digits if ch.isdigit())
    try:
        number = phonenumbers.parse(f"+{plain}")
    except phonenumbers.NumberParseException:
        return f"+{plain}"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def phone_number(sender: Sender) -> dict[str, Any]:
    """A sender as Meta's phone-number node shows it (Meta: WhatsApp Business Account >
    Phone Numbers API; ``messaging_limit_tier`` and ``throughput`` as documented there).
    ``verified_name`` is assumed: the sandbox has no display names, so a fixed one."""
    return {
        "id": sender.phone_number_id,
        "display_phone_number": formatted_number(sender.display_phone_number),
        "verified_name": VERIFIED_NAME,
        "quality_rating": sender.quality_rating,
        "messaging_limit_tier": sender.messaging_limit,
        "throughput": {
            "level": "HIGH" if sender.throughput_mps >= HIGH_THROUGHPUT_MPS else "STANDARD"
        },
        "platform_type": "CLOUD_API",
        "code_verification_status": "VERIFIED",
    }


# --- control requests ---------------------------------------------------------------------

StatusEvent = Literal[
    "APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED", "FLAGGED", "REINSTATED"
]
NEW_STATUS: dict[str, TemplateStatus | None] = {
    "APPROVED": "APPROVED",
    "PENDING": "PENDING",
    "REJECTED": "REJECTED",
    "PAUSED": "PAUSED",
    "DISABLED": "DISABLED",
    "FLAGGED": None,  # at risk of being paused: still sendable
    "REINSTATED": "APPROVED",
}
"""The status each ``message_template_status_update`` event leaves a template in."""

QualityEvent = Literal[
    "FLAGGED", "UNFLAGGED", "DOWNGRADE", "UPGRADE", "ONBOARDING", "THROUGHPUT_UPGRADE"
]


class ControlError(Exception):
    """A control request the sandbox refuses: HTTP status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TemplateStatusChange(_Request):
    name: str
    language: str
    status: StatusEvent
    reason: str = "NONE"
    other_info: dict[str, Any] | None = None


class TemplateCategoryChange(_Request):
    name: str
    language: str
    category: Literal["marketing", "utility", "authentication"]
    impending: bool = False
    """Announce the change (``correct_category``) without making it."""

    @field_validator("category", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class QualityChange(_Request):
    event: QualityEvent
    current_limit: MessagingLimit | None = None
    quality_rating: QualityRating | None = None
    throughput_mps: float | None = Field(default=None, gt=0, le=10_000)


@dataclass(frozen=True)
class Change:
    """A webhook change to send, and the config it leaves behind."""

    config: SandboxConfig
    field: str
    value: dict[str, Any]
    phone_number_id: str = ""
    """The number a change is about: its business account is the webhook entry's id."""

    def scheduled(self) -> dict[str, Any]:
        return {"field": self.field, "value": self.value}


def _template(config: SandboxConfig, name: str, language: str) -> Template:
    template = config.template(name, language)
    if template is None:
        raise ControlError(404, f"no template {name!r} in {language!r}")
    return template


def _with_template(
    config: SandboxConfig, template: Template, changes: dict[str, Any]
) -> SandboxConfig:
    data = config.model_dump()
    for entry in data["templates"]:
        if entry["id"] == template.id:
            entry.update(changes)
    return SandboxConfig.model_validate(data)


def _numeric(numeric_id: str) -> int:
    """Meta sends ``message_template_id`` as a JSON number."""
    return int(numeric_id)


def template_status(config: SandboxConfig, request: TemplateStatusChange) -> Change:
    template = _template(config, request.name, request.language)
    new_status = NEW_STATUS[request.status]
    if new_status is not None:
        config = _with_template(config, template, {"status": new_status})
    value: dict[str, Any] = {
        "event": request.status,
        "message_template_id": _numeric(template.id),
        "message_template_name": template.name,
        "message_template_language": template.language,
        "reason": request.reason,
        "message_template_category": template.category.upper(),
    }
    if request.status == "DISABLED":
        value["disable_info"] = {"disable_date": int(time.time())}
    if request.other_info is not None:
        value["other_info"] = request.other_info
    return Change(config, "message_template_status_update", value)


def template_category(config: SandboxConfig, request: TemplateCategoryChange) -> Change:
    template = _template(config, request.name, request.language)
    value: dict[str, Any] = {
        "message_template_id": _numeric(template.id),
        "message_template_name": template.name,
        "message_template_language": template.language,
    }
    if request.impending:
        value |= {
            "correct_category": request.category.upper(),
            "new_category": template.category.upper(),
            "category_update_timestamp": int(time.time()) + 24 * 60 * 60,
        }
    else:
        value |= {
            "previous_category": template.category.upper(),
            "new_category": request.category.upper(),
        }
        config = _with_template(config, template, {"category": request.category})
    return Change(config, "template_category_update", value)


def phone_number_quality(
    config: SandboxConfig, phone_number_id: str, request: QualityChange
) -> Change:
    sender = config.sender(phone_number_id)
    if sender is None:
        raise ControlError(404, f"no sender {phone_number_id!r}")
    old_limit = sender.messaging_limit
    current = request.current_limit or old_limit
    changes: dict[str, Any] = {"messaging_limit": current}
    if request.quality_rating is not None:
        changes["quality_rating"] = request.quality_rating
    if request.throughput_mps is not None:
        changes["throughput_mps"] = request.throughput_mps
    data = config.model_dump()
    for entry in data["senders"]:
        if entry["phone_number_id"] == phone_number_id:
            entry.update(changes)
    value: dict[str, Any] = {
        "display_phone_number": sender.display_phone_number,
        "event": request.event,
    }
    if current != old_limit:
        value["old_limit"] = old_limit  # only on messaging limit changes
    value["current_limit"] = current
    value["max_daily_conversations_per_business"] = current
    return Change(
        SandboxConfig.model_validate(data), "phone_number_quality_update", value, phone_number_id
    )


def account_update(config: SandboxConfig, body: dict[str, Any]) -> Change:
    event = body.get("event")
    if not isinstance(event, str) or not event.strip():
        raise ControlError(400, "'event' is required")
    extras = {k: v for k, v in body.items() if k != "event"}
    return Change(config, "account_update", {"event": event, **extras})
