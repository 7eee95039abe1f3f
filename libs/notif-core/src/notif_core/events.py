"""Event contracts: one pydantic model per event type, all sharing one envelope.

These models are the only vocabulary the services speak over SQS. ``docs/events/`` is
generated from them (``make contracts``) and a test fails when it is stale.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from notif_core.ids import new_id
from notif_core.vocabulary import PROGRESS as PROGRESS
from notif_core.vocabulary import TERMINAL as TERMINAL
from notif_core.vocabulary import Category, NotificationStatus, Priority, Scope

SCHEMA_VERSION = 1

PricingCategory = Literal[
    "marketing",
    "utility",
    "authentication",
    "authentication_international",
    "service",
    "referral_conversion",
]


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _or_none(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


T = TypeVar("T")
MetaOptional = Annotated[T | None, WrapValidator(_or_none)]
"""An optional field Meta fills: a value of the wrong shape reads as absent, so one odd
field never costs the status that carries it."""


class _MetaModel(BaseModel):
    """An object as Meta sends it: Meta adds fields over time, so unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# --- payloads -----------------------------------------------------------------------------


class Pricing(_MetaModel):
    """Meta's ``pricing`` object from a status webhook."""

    billable: MetaOptional[bool] = None
    pricing_model: MetaOptional[str] = None
    category: MetaOptional[str] = None
    type: MetaOptional[str] = None


class MetaError(_MetaModel):
    """An error as Meta reports it: its numeric code decides what we do, never the title."""

    code: int | str
    title: MetaOptional[str] = None
    message: MetaOptional[str] = None
    details: MetaOptional[str] = None


class AcceptedPayload(_Model):
    """What the dispatcher needs to send: the recipient and the Cloud API message object."""

    to: str = Field(
        description="Recipient: a number in E.164 with the leading +, or a business-scoped "
        "user id (BSUID, e.g. US.13491208655302741918) as the client gave it."
    )
    message: dict[str, Any] = Field(
        description="The Cloud API message without messaging_product and to, e.g. "
        '{"type":"text","text":{"body":"..."}}.'
    )
    priority: Priority = "normal"
    category: Category | None = Field(
        default=None,
        description="The template's category as the client declared it (never sent to Meta): "
        "a marketing-only opt-out applies when it is marketing.",
    )
    phone_number_id: str | None = Field(
        default=None, description="Sender; unset means the configured default sender."
    )
    expires_at: datetime | None = None
    send_at: datetime | None = Field(
        default=None,
        description="When a scheduled notification was due to go out (the dispatch command "
        "is delivered then); unset for one sent at once.",
    )
    metadata: dict[str, Any] | None = None
    callback_url: str | None = None


class ScheduledPayload(_Model):
    send_at: datetime


class CancelledPayload(_Model):
    reason: str | None = None


class SentPayload(_Model):
    wamid: str
    phone_number_id: str | None = None
    wa_id: str | None = Field(
        default=None, description="The WhatsApp id Meta answered (contacts[].wa_id)."
    )
    user_id: str | None = Field(
        default=None,
        description="The business-scoped user id Meta answered (contacts[].user_id), for a "
        "send to a BSUID.",
    )


class StatusPayload(_Model):
    """A delivery status reported by Meta's webhook."""

    wamid: str
    status_timestamp: datetime | None = None
    pricing: Pricing | None = None
    conversation: dict[str, Any] | None = None


class AttemptFailedPayload(_Model):
    error: MetaError
    attempt: int
    next_attempt_at: datetime


class FailedPayload(_Model):
    error: MetaError
    wamid: str | None = None
    attempts: int | None = None


class ExpiredPayload(_Model):
    expires_at: datetime


class SuppressedPayload(_Model):
    reason: str


class InboundPayload(_Model):
    """A message a WhatsApp user sent to one of our numbers.

    A user with a username may come with a business-scoped user id and no phone number:
    at least one of ``from`` and ``user_id`` is set, and the ledger keys the user on them
    (``notif_core.identity.recipient_key``)."""

    wamid: str
    from_: str | None = Field(
        default=None,
        alias="from",
        description="The user's WhatsApp id as Meta reported it (+digits); unset when Meta "
        "withholds the phone number.",
    )
    user_id: str | None = Field(
        default=None, description="The user's business-scoped user id (BSUID), when Meta sent one."
    )
    phone_number_id: str
    type: str
    text: str | None = None
    received_at: datetime
    content: dict[str, Any] | None = Field(
        default=None,
        description="The message's content in the shape documented per kind (docs/api.md, "
        "Inbound messages): text, button, interactive, media, location, contacts, reaction, "
        "unsupported.",
    )
    context_wamid: str | None = Field(
        default=None,
        description="The wamid the user replied to (Meta's context.id), or reacted to.",
    )
    profile_name: str | None = Field(
        default=None, description="The name the user set in WhatsApp (contacts[].profile.name)."
    )
    callback_url: str | None = Field(
        default=None,
        description="Where the owning tenant receives inbound messages (resolved by ingest "
        "from the tenant's or the sender number's inbound callback URL).",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _someone(self) -> InboundPayload:
        if not self.from_ and not self.user_id:
            raise ValueError("an inbound message needs from or user_id")
        return self


class NumberChangedPayload(_Model):
    """Meta's ``user_changed_number`` system message: the same person, a new WhatsApp id."""

    phone_number_id: str | None = Field(
        default=None, description="The business number the system message came to."
    )
    old: str = Field(description="The user's previous WhatsApp id (+digits).")
    new: str = Field(description="The user's new WhatsApp id (+digits).")
    changed_at: datetime


class OptPayload(_Model):
    phone_number_id: str | None = Field(
        default=None, description="The sender it applies to; unset means every sender."
    )
    recipient: str
    source: str = Field(description="keyword, meta_error or api")
    scope: Scope = "all"


class ErasureRequestedPayload(_Model):
    """A request to erase a person: travels from ingest to the ledger only, and is never
    stored (the ledger stores the resulting ``recipient.erased``, which names no one)."""

    recipient: str = Field(description="Any form of the person: a number or a BSUID.")
    requested_by: Literal["api", "notifctl"] = "api"


class ErasedOptOut(_Model):
    """An opt-out (or opt-in) that outlives the person's erasure, keyed by pseudonym."""

    phone_number_id: str
    recipient: str = Field(description="notif_core.erasure.pseudonym of the identity key.")
    scope: Scope
    source: str | None = None
    since: datetime | None = None
    lifted_at: datetime | None = None


class ErasedPayload(_Model):
    """A person erased: the pseudonyms of every form of them the ledger knew, and their
    opt-outs in pseudonymous form (so that a rebuild keeps blocking sends to them)."""

    subjects: list[str]
    opt_outs: list[ErasedOptOut] = Field(default_factory=list)


class UsagePayload(_Model):
    wamid: str
    category: str | None = None
    billable: bool | None = None
    pricing_model: str | None = None


# --- envelope -----------------------------------------------------------------------------


class _Envelope(_Model):
    """Fields every event carries. ``traceparent`` also travels as an SQS attribute."""

    event_id: UUID = Field(default_factory=new_id)
    version: int = SCHEMA_VERSION
    occurred_at: datetime = Field(default_factory=utcnow)
    tenant_id: UUID | None = None
    notification_id: UUID | None = None
    producer: str
    traceparent: str | None = None


class MissingNotificationId(ValueError):
    """An event of a type that always names its notification came without one: whoever
    produced it is broken, and the event cannot be acted on."""


class NotificationEnvelope(_Envelope):
    """The envelope of an event we create about one notification (ingest's accepted,
    scheduled and cancelled, the dispatcher's attempt_failed, expired and suppressed): it
    always names the notification. Events Meta reports (sent, delivered, read, failed,
    usage) may know only a wamid, and keep the plain envelope.

    The wire schema keeps ``notification_id`` optional for every event, so a body without
    one still parses and can be set aside with a reason; :meth:`require_notification_id`
    is how code reads it."""

    def require_notification_id(self) -> UUID:
        """The notification this event is about; :class:`MissingNotificationId` when the
        producer left it out."""
        if self.notification_id is None:
            raise MissingNotificationId(f"{type(self).__name__} without notification_id")
        return self.notification_id


class NotificationAccepted(NotificationEnvelope):
    """Ingest accepted a notification; also the dispatch command on the dispatch queues."""

    type: Literal["notification.accepted"] = "notification.accepted"
    payload: AcceptedPayload


class NotificationScheduled(NotificationEnvelope):
    """The notification waits for its ``send_at`` time."""

    type: Literal["notification.scheduled"] = "notification.scheduled"
    payload: ScheduledPayload


class NotificationCancelled(NotificationEnvelope):
    """The client cancelled the notification before it was sent."""

    type: Literal["notification.cancelled"] = "notification.cancelled"
    payload: CancelledPayload


class NotificationAttemptFailed(NotificationEnvelope):
    """A send failed with a retryable error; another attempt follows."""

    type: Literal["notification.attempt_failed"] = "notification.attempt_failed"
    payload: AttemptFailedPayload


class NotificationSent(_Envelope):
    """Meta accepted the message and returned its wamid."""

    type: Literal["notification.sent"] = "notification.sent"
    payload: SentPayload


class NotificationDelivered(_Envelope):
    """Meta reports the message delivered to the user's device."""

    type: Literal["notification.delivered"] = "notification.delivered"
    payload: StatusPayload


class NotificationRead(_Envelope):
    """Meta reports the message read."""

    type: Literal["notification.read"] = "notification.read"
    payload: StatusPayload


class NotificationFailed(_Envelope):
    """Terminal failure, with Meta's own error code (or ours, e.g. max_attempts_exceeded)."""

    type: Literal["notification.failed"] = "notification.failed"
    payload: FailedPayload


class NotificationExpired(NotificationEnvelope):
    """The notification passed ``expires_at`` before it could be sent."""

    type: Literal["notification.expired"] = "notification.expired"
    payload: ExpiredPayload


class NotificationSuppressed(NotificationEnvelope):
    """The recipient is on the suppression list; nothing was sent."""

    type: Literal["notification.suppressed"] = "notification.suppressed"
    payload: SuppressedPayload


class MessageInboundReceived(_Envelope):
    """A WhatsApp user wrote to one of our numbers."""

    type: Literal["message.inbound_received"] = "message.inbound_received"
    payload: InboundPayload


class RecipientOptedOut(_Envelope):
    """A recipient asked to stop receiving messages."""

    type: Literal["recipient.opted_out"] = "recipient.opted_out"
    payload: OptPayload


class RecipientOptedIn(_Envelope):
    """A recipient lifted an earlier opt-out."""

    type: Literal["recipient.opted_in"] = "recipient.opted_in"
    payload: OptPayload


class RecipientNumberChanged(_Envelope):
    """A WhatsApp user moved to a new number: their opt-outs and window follow them."""

    type: Literal["recipient.number_changed"] = "recipient.number_changed"
    payload: NumberChangedPayload


class RecipientErasureRequested(_Envelope):
    """Erase a person's personal data (GDPR Art. 17); see ``ErasureRequestedPayload``."""

    type: Literal["recipient.erasure_requested"] = "recipient.erasure_requested"
    payload: ErasureRequestedPayload


class RecipientErased(_Envelope):
    """A person's data was erased; their opt-outs stay, pseudonymous."""

    type: Literal["recipient.erased"] = "recipient.erased"
    payload: ErasedPayload


class UsageBilled(_Envelope):
    """Meta's pricing for a message, for usage and cost reports."""

    type: Literal["usage.billed"] = "usage.billed"
    payload: UsagePayload


EVENT_TYPES: tuple[type[_Envelope], ...] = (
    NotificationAccepted,
    NotificationScheduled,
    NotificationCancelled,
    NotificationAttemptFailed,
    NotificationSent,
    NotificationDelivered,
    NotificationRead,
    NotificationFailed,
    NotificationExpired,
    NotificationSuppressed,
    MessageInboundReceived,
    RecipientOptedOut,
    RecipientOptedIn,
    RecipientNumberChanged,
    RecipientErasureRequested,
    RecipientErased,
    UsageBilled,
)

Event = Annotated[
    NotificationAccepted
    | NotificationScheduled
    | NotificationCancelled
    | NotificationAttemptFailed
    | NotificationSent
    | NotificationDelivered
    | NotificationRead
    | NotificationFailed
    | NotificationExpired
    | NotificationSuppressed
    | MessageInboundReceived
    | RecipientOptedOut
    | RecipientOptedIn
    | RecipientNumberChanged
    | RecipientErasureRequested
    | RecipientErased
    | UsageBilled,
    Field(discriminator="type"),
]

STATUSES: tuple[NotificationStatus, ...] = tuple(NotificationStatus)
"""Every status: the progress in order (``PROGRESS``), then the terminal ones (``TERMINAL``)."""

STATUS_OF_EVENT: dict[str, NotificationStatus] = {
    "notification.accepted": NotificationStatus.ACCEPTED,
    "notification.scheduled": NotificationStatus.SCHEDULED,
    "notification.sent": NotificationStatus.SENT,
    "notification.delivered": NotificationStatus.DELIVERED,
    "notification.read": NotificationStatus.READ,
    "notification.failed": NotificationStatus.FAILED,
    "notification.expired": NotificationStatus.EXPIRED,
    "notification.cancelled": NotificationStatus.CANCELLED,
    "notification.suppressed": NotificationStatus.SUPPRESSED,
}
"""The notification status each lifecycle event reports; other events carry no status."""

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(raw: str | bytes) -> Event:
    """Parse one event from its JSON; raises ``pydantic.ValidationError`` on anything else."""
    return _EVENT_ADAPTER.validate_json(raw)


_NOT_SQS_TEXT = {"\ufffe": "\\ufffe", "\uffff": "\\uffff"}
"""Characters JSON writes as they are but SQS refuses in a message (it takes only XML's
characters: U+FFFE and U+FFFF are not), with their JSON escapes, which mean the same."""


def dump_event(event: Event) -> str:
    """The JSON an event travels as (aliases on, so ``from_`` is written ``from``), with
    the two characters SQS refuses escaped."""
    body = event.model_dump_json(by_alias=True)
    for char, escape in _NOT_SQS_TEXT.items():
        if char in body:
            body = body.replace(char, escape)
    return body
