"""Request and response bodies of the public API, with the rules clients can rely on."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ingest.api.message_kinds import (
    FREE_FORM_KINDS,
    Contact,
    Interactive,
    Location,
    Reaction,
    at,
)
from notif_core import json_rules
from notif_core.callback_url import CallbackUrl
from notif_core.identity import Recipient
from notif_core.identity import recipient_form as recipient_form
from notif_core.vocabulary import (
    CallbackState,
    Category,
    NotificationStatus,
    Priority,
    Scope,
)

MAX_SCHEDULE_AHEAD = timedelta(days=35)
MAX_TTL_SECONDS = 30 * 24 * 3600
MAX_METADATA_BYTES = 4096
MAX_BATCH = 1000
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
MESSAGE_KINDS = ("template", "text", *MEDIA_KINDS, *FREE_FORM_KINDS)
"""Every message kind a request may carry (exactly one of them)."""
UNCAPTIONED = frozenset({"audio", "sticker"})

PHONE_NUMBER_ID_PATTERN = r"^[0-9]{5,20}$"
"""A Meta phone number id: ASCII digits only (never ``/``, ``.``, ``?``, ``#``, ``%`` or
another script's digits), as it becomes a segment of the Graph API path."""
PhoneNumberId = Annotated[
    str,
    Field(
        pattern=PHONE_NUMBER_ID_PATTERN,
        examples=["100000000000001"],
        description="A Meta phone number id: 5 to 20 ASCII digits.",
    ),
]


_Json = TypeVar("_Json", dict[str, Any], list[dict[str, Any]])


def _at(path: str, message: str) -> PydanticCustomError:
    """A ``value_error`` a model-wide rule raises, located at the field it is about
    (``ctx.path``, below the model's own location), so that the answer names it."""
    return at(path, "value_error", f"Value error, {message}")


def _refused(violation: json_rules.Violation) -> PydanticCustomError:
    path = ".".join(str(part) for part in violation.path)
    return PydanticCustomError(
        "json_not_interoperable",
        "{where} {problem}",
        {"where": path or "the value", "problem": violation.problem, "path": path},
    )


def interoperable(value: _Json) -> _Json:
    """``value`` unchanged if every parser in the pipeline carries it (:mod:`notif_core.
    json_rules`), else a ``json_not_interoperable`` error whose ``ctx.path`` locates the
    offending item inside the field (the API adds it to the field's path)."""
    violation = json_rules.first_violation(value)
    if violation is not None:
        raise _refused(violation)
    return value


FreeJsonObject = Annotated[dict[str, Any], AfterValidator(interoperable)]
"""A free-form JSON object, limited to what every parser carries (I-JSON)."""
FreeJsonObjects = Annotated[list[dict[str, Any]], AfterValidator(interoperable)]


_EXAMPLE_TEMPLATE: dict[str, Any] = {
    "to": "+14155550101",
    "template": {
        "name": "order_update",
        "language": "en_US",
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-1001"}]}],
    },
    "metadata": {"order_id": "A-1001"},
}


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored or sent, or None: a NUL character (PostgreSQL text and
    jsonb refuse it) or a lone surrogate (no UTF-8 encodes it)."""
    if "\x00" in text:
        return "contains a NUL (\\u0000) character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired UTF-16 surrogate"
    return None


def storable(value: str) -> str:
    """``value`` unchanged if the database can hold it, else an ``unstorable_text`` error
    located where the value was given (a query, path or header parameter)."""
    problem = text_problem(value)
    if problem:
        raise PydanticCustomError("unstorable_text", "the value {problem}", {"problem": problem})
    return value


StorableText = Annotated[str, AfterValidator(storable)]
"""A string parameter that may reach SQL: NUL and lone surrogates are a 422 naming the
parameter (``query.name``), never a database error."""


def _escaped(key: str) -> str:
    """A key as a path segment the answer can carry: NUL and surrogates as ``\\uXXXX``."""
    return "".join(
        f"\\u{ord(c):04x}" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in key
    )


def _any_unstorable(value: Any) -> bool:
    """Whether any string, key or value, is unstorable: the walk every request pays for,
    so it builds no paths (:func:`unstorable_text` finds the path once one is)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if text_problem(item):
                return True
        elif isinstance(item, dict):
            for key, child in item.items():
                stack += (child, key)
        elif isinstance(item, list):
            stack += item
    return False


def unstorable_text(value: Any) -> tuple[str, str] | None:
    """The dotted path (list items by index, as every field path) and the problem of the
    first string, key or value, that cannot be stored or sent (:func:`text_problem`).
    Iterative, so that any nesting a parser let through is walked without recursion."""
    if not _any_unstorable(value):
        return None
    stack: list[tuple[Any, str, bool]] = [(value, "", False)]
    while stack:
        item, path, is_key = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return path, f"is a key that {problem}" if is_key else problem
        elif isinstance(item, dict | list):
            children = list(item.items() if isinstance(item, dict) else enumerate(item))
            for key, child in reversed(children):  # popped in document order, key first
                where = f"{path}.{_escaped(str(key))}" if path else _escaped(str(key))
                stack += [(child, where, False), (key, where, True)]
    return None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        """Text nothing downstream carries is refused with its path (``ctx.path``, which
        the API appends to the model's own location, as :func:`interoperable` does)."""
        found = unstorable_text(data)
        if found:
            path, problem = found
            raise PydanticCustomError(
                "unstorable_text",
                "{where} {problem}",
                {"where": path or "a text value", "problem": problem, "path": path},
            )
        return data


class TemplateLanguage(_Body):
    code: str = Field(min_length=2, max_length=15, examples=["en_US"])
    policy: Literal["deterministic"] = "deterministic"


COMPONENT_TYPE = re.compile(r"^[A-Za-z_]{1,32}$")
"""A template component's ``type``: header, body, button, footer, limited_time_offer,
carousel, and those Meta adds (the catalogue check decides what fits the template)."""


class Template(_Body):
    """A pre-approved template; components follow the Cloud API's shape."""

    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    language: str | TemplateLanguage = Field(examples=["en_US"])
    components: FreeJsonObjects = Field(default_factory=list, max_length=20)
    category: Category | None = Field(
        default=None,
        description="Optional hint (not sent to Meta), used only when the catalogue does not "
        "know the template: otherwise Meta's category is the notification's. Authentication "
        "templates default to high priority.",
    )

    @field_validator("components")
    @classmethod
    def _component_shape(cls, components: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, component in enumerate(components):
            kind = component.get("type")
            if not isinstance(kind, str) or not COMPONENT_TYPE.fullmatch(kind):
                raise _at(
                    f"{index}.type",
                    f"components[{index}].type must be a component type such as header, "
                    "body, button, limited_time_offer or carousel",
                )
            params = component.get("parameters", [])
            if not isinstance(params, list) or not all(isinstance(p, dict) for p in params):
                raise _at(
                    f"{index}.parameters",
                    f"components[{index}].parameters must be a list of objects",
                )
        return components

    def to_cloud_api(self) -> dict[str, Any]:
        language = (
            {"policy": "deterministic", "code": self.language}
            if isinstance(self.language, str)
            else self.language.model_dump()
        )
        body: dict[str, Any] = {"name": self.name, "language": language}
        if self.components:
            body["components"] = self.components
        return body


class Text(_Body):
    body: str = Field(min_length=1, max_length=4096)
    preview_url: bool = False


class Media(_Body):
    """An uploaded media ``id`` or a public ``link`` (exactly one)."""

    id: str | None = Field(default=None, min_length=1, max_length=256)
    link: str | None = Field(default=None, max_length=2048, pattern=r"^https?://\S+$")
    caption: str | None = Field(default=None, max_length=1024)
    filename: str | None = Field(default=None, max_length=240)

    @model_validator(mode="after")
    def _one_source(self) -> Media:
        if (self.id is None) == (self.link is None):
            raise ValueError("exactly one of id or link is required")
        return self


class Context(_Body):
    """Reply to an earlier message."""

    message_id: str = Field(min_length=1, max_length=256)


class NotificationRequest(_Body):
    """``to`` plus exactly one message kind, and optional delivery options."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE_TEMPLATE]})

    to: Recipient = Field(
        description="Recipient: a phone number, normalised to E.164, or a business-scoped "
        "user id (BSUID, such as US.13491208655302741918, or a parent BSUID with ENT.) "
        "kept exactly as given.",
    )
    template: Template | None = None
    text: Text | None = None
    image: Media | None = None
    video: Media | None = None
    audio: Media | None = None
    document: Media | None = None
    sticker: Media | None = None
    interactive: Interactive | None = Field(
        default=None,
        description="Reply buttons (type button), a list (list) or a URL button (cta_url), "
        "in the Cloud API's shape. Free-form: inside the 24h window only.",
    )
    location: Location | None = Field(
        default=None, description="A map pin. Free-form: inside the 24h window only."
    )
    contacts: Annotated[list[Contact], BeforeValidator(interoperable)] | None = Field(
        default=None,
        min_length=1,
        description="Contact cards, each with name.formatted_name. Free-form: inside the 24h "
        "window only.",
    )
    reaction: Reaction | None = Field(
        default=None,
        description='An emoji on the user\'s message named by its wamid; "" removes it. '
        "Free-form: inside the 24h window only.",
    )
    context: Context | None = None
    phone_number_id: PhoneNumberId | None = Field(
        default=None,
        description="Sender; one of the tenant's numbers (5 to 20 digits). Default: its first.",
    )
    send_at: datetime | None = Field(default=None, description="Send later (≤ 35 days).")
    expires_at: datetime | None = Field(default=None, description="Never send after this.")
    ttl_seconds: int | None = Field(default=None, ge=1, le=MAX_TTL_SECONDS)
    priority: Priority | None = Field(
        default=None, description="Default: high for authentication templates, else normal."
    )
    metadata: FreeJsonObject | None = Field(
        default=None,
        description="≤ 4 KB, echoed back. Integers within ±(2^53-1), finite numbers, at most "
        f"{json_rules.MAX_DEPTH} levels deep.",
    )
    callback_url: CallbackUrl | None = None

    @model_validator(mode="before")
    @classmethod
    def _reserved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "biz_opaque_callback_data" in data:
            raise _at(
                "biz_opaque_callback_data",
                "biz_opaque_callback_data is reserved: the service uses it to match Meta's "
                "statuses to notifications; use metadata instead",
            )
        return data

    @field_validator("send_at", "expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        """Held in UTC from here on: PostgreSQL refuses offsets beyond ±15:59, which ISO 8601
        and pydantic allow (up to ±23:59)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("must carry a timezone, e.g. 2026-12-01T09:00:00Z")
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is out of range once converted to UTC") from None

    @field_validator("metadata")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value).encode()) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> NotificationRequest:
        kinds = self.kinds()
        if len(kinds) != 1:
            # Two kinds: the second is the one too many; none: no field to name.
            message = "exactly one of " + ", ".join(MESSAGE_KINDS)
            raise _at(kinds[1], message) if kinds else ValueError(message)
        media = getattr(self, kinds[0]) if kinds[0] in MEDIA_KINDS else None
        if media is not None and kinds[0] in UNCAPTIONED and media.caption is not None:
            raise _at(f"{kinds[0]}.caption", f"{kinds[0]} does not take a caption")
        if media is not None and media.filename is not None and kinds[0] != "document":
            raise _at(f"{kinds[0]}.filename", "filename is only for documents")
        if self.expires_at is not None and self.ttl_seconds is not None:
            raise _at("ttl_seconds", "give expires_at or ttl_seconds, not both")
        now = datetime.now(UTC)
        if self.send_at is not None and self.send_at > now + MAX_SCHEDULE_AHEAD:
            raise _at("send_at", "send_at is more than 35 days ahead")
        expires = self.effective_expiry(now)
        if expires is not None and expires <= max(now, self.send_at or now):
            raise _at(
                "ttl_seconds" if self.ttl_seconds is not None else "expires_at",
                "the notification would expire before it could be sent",
            )
        return self

    def kinds(self) -> list[str]:
        return [k for k in MESSAGE_KINDS if getattr(self, k) is not None]

    def effective_expiry(self, accepted_at: datetime) -> datetime | None:
        if self.ttl_seconds is not None:
            return accepted_at + timedelta(seconds=self.ttl_seconds)
        return self.expires_at

    def effective_priority(self) -> Priority:
        if self.priority is not None:
            return self.priority
        if self.template is not None and self.template.category == "authentication":
            return "high"
        return "normal"

    def cloud_api_message(self) -> dict[str, Any]:
        """The Cloud API message object, without ``messaging_product`` and ``to``."""
        (kind,) = self.kinds()
        message: dict[str, Any] = {"type": kind}
        if self.template is not None:
            message["template"] = self.template.to_cloud_api()
        elif self.contacts is not None:
            message["contacts"] = [c.model_dump(exclude_none=True) for c in self.contacts]
        else:
            message[kind] = getattr(self, kind).model_dump(exclude_none=True)
        if self.context is not None:
            message["context"] = self.context.model_dump()
        return message


def _bounded_depth(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items nested beyond any valid notification are refused as a whole, before each item
    is validated: an item's free-form values hold at most ``MAX_DEPTH`` levels."""
    violation = json_rules.first_violation(items, json_rules.MAX_DEPTH + 8, numbers=False)
    if violation is not None:
        raise _refused(violation)
    return items


class BatchRequest(_Body):
    notifications: Annotated[list[dict[str, Any]], AfterValidator(_bounded_depth)] = Field(
        min_length=1, max_length=MAX_BATCH
    )


class Accepted(BaseModel):
    id: UUID
    status: Literal[NotificationStatus.ACCEPTED, NotificationStatus.SCHEDULED] = (
        NotificationStatus.ACCEPTED
    )
    send_at: datetime | None = None


class ItemError(BaseModel):
    code: str
    message: str
    field: str | None = None
    fields: list[dict[str, Any]] = Field(default_factory=list)
    template_status: str | None = Field(
        default=None,
        description="With template_not_approved: the template's status (PAUSED, DISABLED, …).",
    )


class BatchItem(BaseModel):
    index: int
    id: UUID | None = None
    status: Literal[NotificationStatus.ACCEPTED, NotificationStatus.SCHEDULED, "rejected"]
    error: ItemError | None = None


class BatchResponse(BaseModel):
    results: list[BatchItem]


class HistoryItem(BaseModel):
    event_id: UUID
    type: str
    status: NotificationStatus | None
    occurred_at: datetime
    recorded_at: datetime
    data: dict[str, Any]


class Pricing(BaseModel):
    category: str = Field(examples=["utility"])
    billable: bool | None = None
    pricing_model: str | None = Field(default=None, examples=["PMP"])


class CallbackDelivery(BaseModel):
    """One callback owed to the customer, a status change or an inbound message, and how
    its delivery went."""

    id: int
    kind: Literal["status", "inbound"] = Field(
        description="status: a notification's status change; inbound: a customer's message "
        "(its id is event_id, as in GET /v1/inbound)."
    )
    notification_id: UUID | None = Field(default=None, description="Set for status callbacks.")
    event_id: UUID
    status: NotificationStatus | None = Field(
        default=None, description="The notification status a status callback reports."
    )
    url: str
    state: CallbackState
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = Field(default=None, description="Set while pending.")
    created_at: datetime
    delivered_at: datetime | None = None


class CallbackPage(BaseModel):
    items: list[CallbackDelivery]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class NotificationView(BaseModel):
    id: UUID
    status: NotificationStatus
    to: str | None = None
    wamid: str | None = None
    last_error: dict[str, Any] | None = None
    timestamps: dict[str, datetime] = Field(
        default_factory=dict, description="When each status was reached (accepted, sent, …)."
    )
    attempts: int = 0
    pricing: Pricing | None = None
    metadata: dict[str, Any] | None = None
    send_at: datetime | None = None
    expires_at: datetime | None = None
    priority: Priority | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    history: list[HistoryItem]
    callbacks: list[CallbackDelivery] = Field(default_factory=list)


class NotificationSummary(BaseModel):
    id: UUID
    status: NotificationStatus
    to: str
    created_at: datetime
    updated_at: datetime | None = None
    wamid: str | None = None


class NotificationPage(BaseModel):
    items: list[NotificationSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class EventsView(BaseModel):
    id: UUID
    events: list[HistoryItem]


UsageDimension = Literal["day", "category", "country", "billable"]


class UsageItem(BaseModel):
    day: date | None = None
    category: str | None = None
    country: str | None = Field(default=None, description="ISO 3166 alpha-2; ZZ if unknown.")
    billable: bool | None = None
    messages: int
    billable_messages: int
    cost: Decimal | None = Field(
        default=None,
        description="With cost=true: the estimate from the rate card, in the report's currency.",
    )
    unpriced_messages: int | None = Field(
        default=None,
        description="With cost=true: billable messages the rate card has no price for.",
    )


class UsageReport(BaseModel):
    from_: date = Field(alias="from")
    to: date
    group_by: list[UsageDimension]
    items: list[UsageItem]
    total: UsageItem
    currency: str | None = Field(default=None, description="With cost=true: the card's.")
    rate_card: str | None = Field(default=None, description="With cost=true: its file name.")

    model_config = ConfigDict(populate_by_name=True)


class SuppressionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient: str = Field(
        examples=["+14155550101"],
        max_length=140,
        description="A number in E.164 or as a WhatsApp id (+5215512340000), or a "
        "business-scoped user id (US.13491208655302741918); every form of the same person "
        "is one entry.",
    )
    scope: Scope = Field(
        default="all", description="all: nothing is sent; marketing: only marketing templates."
    )
    phone_number_id: PhoneNumberId | None = Field(
        default=None, description="One of your sender numbers; unset means all of them."
    )

    @field_validator("recipient")
    @classmethod
    def _recipient(cls, value: str) -> str:
        return recipient_form(value)


class SuppressionAccepted(BaseModel):
    recipient: str
    scope: Scope | None = None
    phone_number_ids: list[str]
    action: Literal["suppress", "lift"]


class Suppression(BaseModel):
    recipient: str
    phone_number_id: str = Field(description="The sender number it applies to.")
    scope: Scope
    source: str | None = Field(description="keyword, meta_error or api.")
    since: datetime


class SuppressionPage(BaseModel):
    items: list[Suppression]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class CallbackSecret(BaseModel):
    id: UUID
    secret: str
    created_at: datetime
    expires_at: datetime | None = Field(description="Null: valid until the next rotation.")


class CallbackSecrets(BaseModel):
    secrets: list[CallbackSecret] = Field(description="Active secrets, newest first.")


class RotateRequest(BaseModel):
    overlap_seconds: int = Field(
        default=86_400,
        ge=0,
        le=7 * 86_400,
        description="How long the current secrets keep signing after the new one appears.",
    )


class ErrorDetail(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str
    field: str | None = Field(default=None, description="The first offending field, if any.")
    fields: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    """Every error answer: a stable machine-readable code plus a human message."""

    error: ErrorDetail
