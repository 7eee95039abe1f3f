"""What one event does to one notification's read-model row, as a pure function.

``fold`` knows nothing of SQL: the store loads the rows a batch touches, folds every event
into them in the order they were stored, and writes the rows back in one statement. The live
consumer and a rebuild go through the same fold, which is why a rebuild reproduces exactly
what was built live.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any
from uuid import UUID

from ledger.status import next_status
from notif_core.erasure import erased_country, is_erased
from notif_core.events import (
    STATUS_OF_EVENT,
    Event,
    MessageInboundReceived,
    NotificationAccepted,
    NotificationAttemptFailed,
    NotificationFailed,
    NotificationSent,
    UsageBilled,
)
from notif_core.identity import UNKNOWN_COUNTRY, country, is_bsuid, recipient_key
from notif_core.meta_codes import Reaction, reaction
from notif_core.settings import CoreSettings
from notif_core.vocabulary import NotificationStatus


@dataclass
class Notification:
    """One row of ``ledger.notifications``; field names are its column names."""

    id: UUID
    status: NotificationStatus = NotificationStatus.ACCEPTED
    tenant_id: UUID | None = None
    wamid: str | None = None
    last_error: dict[str, Any] | None = None
    attempts: int = 0
    accepted_at: datetime | None = None
    scheduled_at: datetime | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    failed_at: datetime | None = None
    expired_at: datetime | None = None
    cancelled_at: datetime | None = None
    suppressed_at: datetime | None = None
    phone_number_id: str | None = None
    recipient: str | None = None
    recipient_country: str | None = None
    callback_url: str | None = None
    metadata: dict[str, Any] | None = None
    pricing_category: str | None = None
    billable: bool | None = None
    pricing_model: str | None = None
    billed_at: datetime | None = None
    usage_counted: bool = False
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> Notification:
        values = {f.name: row[f.name] for f in fields(cls)}
        return cls(**values | {"status": NotificationStatus(values["status"])})

    def to_row(self) -> dict[str, Any]:
        """The row's values, sharing this object's (``dataclasses.asdict`` would copy every
        nested dict, once per row and batch)."""
        return {f.name: getattr(self, f.name) for f in _NOTIFICATION_FIELDS}


_NOTIFICATION_FIELDS = fields(Notification)


@dataclass(frozen=True)
class UsageKey:
    tenant_id: UUID
    day: date
    category: str
    billable: bool
    country: str


@dataclass(frozen=True)
class OptOut:
    """A recipient to put on the marketing suppression list, because Meta said 131050."""

    phone_number_id: str
    recipient: str
    at: datetime


@dataclass(frozen=True)
class Alias:
    """A form of a recipient (the number or BSUID a client gave) and the identity key of
    whom Meta answered for it (``contacts[].wa_id``, else ``contacts[].user_id``)."""

    alias: str
    key: str
    at: datetime


@dataclass(frozen=True)
class StatusChange:
    """A status the customer should hear about through its callback URL."""

    notification_id: UUID
    previous: NotificationStatus
    status: NotificationStatus
    event: Event


@dataclass
class Folded:
    """The outcome of one fold: the new row and what else the event caused."""

    state: Notification
    new_wamid: str | None = None
    change: StatusChange | None = None
    usage: UsageKey | None = None
    opt_outs: list[OptOut] = field(default_factory=list)
    alias: Alias | None = None


def event_wamid(event: Event) -> str | None:
    """The wamid of our outbound message an event speaks of (an inbound message's own
    wamid names no notification of ours)."""
    if isinstance(event, MessageInboundReceived):
        return None
    wamid = getattr(event.payload, "wamid", None)
    return wamid if isinstance(wamid, str) and wamid else None


@functools.lru_cache(maxsize=4096)
def country_of(number: str) -> str:
    """The recipient's country (``notif_core.identity.country``), cached: the store seals an
    accepted event's country and the fold projects it, from the same number in the same
    batch."""
    return country(number)


def fold(state: Notification | None, notification_id: UUID, event: Event) -> Folded:
    """Apply one new event to a notification's row (``None``: the first event seen)."""
    incoming = STATUS_OF_EVENT.get(event.type)
    if state is None:
        state = Notification(id=notification_id, status=incoming or NotificationStatus.ACCEPTED)
        previous: NotificationStatus | None = None
    else:
        previous = state.status
    out = Folded(state)
    if incoming is not None:
        status = next_status(previous, incoming)
        if status is not None:
            state.status = status
        column = f"{incoming}_at"
        if getattr(state, column) is None:
            setattr(state, column, event.occurred_at)
    if state.tenant_id is None and event.tenant_id is not None:
        state.tenant_id = event.tenant_id
    wamid = event_wamid(event)
    if wamid and state.wamid is None:
        state.wamid = out.new_wamid = wamid
    error = getattr(event.payload, "error", None)
    if error is not None and (
        isinstance(event, NotificationFailed) or not state.status.is_terminal
    ):
        state.last_error = error.model_dump(mode="json")
    if isinstance(event, NotificationAttemptFailed):
        state.attempts += 1
    learned_recipient = False
    if isinstance(event, NotificationAccepted) and state.recipient is None:
        p = event.payload
        state.phone_number_id = p.phone_number_id
        erased = is_erased(p.to)  # a sealed recipient whose key erasure destroyed
        state.recipient = None if erased else p.to
        state.recipient_country = (erased_country(p.to) if erased else country_of(p.to)) or (
            UNKNOWN_COUNTRY
        )
        state.callback_url = p.callback_url
        state.metadata = p.metadata
        learned_recipient = True
    if isinstance(event, UsageBilled) and state.pricing_category is None:
        state.pricing_category = event.payload.category or "unknown"
        state.billable = event.payload.billable
        state.pricing_model = event.payload.pricing_model
        state.billed_at = event.occurred_at
    state.updated_at = (
        event.occurred_at if state.updated_at is None else max(state.updated_at, event.occurred_at)
    )
    out.usage = _count_usage(state)
    out.opt_outs = _meta_opt_outs(state, event, learned_recipient)
    out.change = _change(state, previous, event, learned_recipient)
    if isinstance(event, NotificationSent) and state.recipient:
        out.alias = _sent_alias(state.recipient, event)
    return out


def _sent_alias(recipient: str, event: NotificationSent) -> Alias | None:
    """Who Meta said the recipient is: the key of the ``wa_id`` it answered for a number (or
    for a BSUID, should it answer one), else the ``user_id`` it answered for a BSUID (for a
    parent BSUID, its user's own). A BSUID answered as itself pairs it with nothing, and
    must not replace the number an inbound message paired it with."""
    answered = event.payload.wa_id or event.payload.user_id
    if not answered:
        return None
    key = recipient_key(answered)
    if is_bsuid(recipient) and key == recipient_key(recipient):
        return None
    return Alias(recipient, key, event.occurred_at)


def _count_usage(state: Notification) -> UsageKey | None:
    """Count a message once, when both its price (Meta) and its tenant and country (our
    accepted event) are known, whichever arrived last."""
    if state.usage_counted or state.pricing_category is None or state.billed_at is None:
        return None
    if state.tenant_id is None or state.recipient_country is None:
        return None  # the accepted event (which gives the country) is not known yet
    state.usage_counted = True
    return UsageKey(
        tenant_id=state.tenant_id,
        day=state.billed_at.date(),
        category=state.pricing_category,
        billable=bool(state.billable),
        country=state.recipient_country or UNKNOWN_COUNTRY,
    )


@functools.cache
def default_sender() -> str:
    """``WHATSAPP_PHONE_NUMBER_ID``: the number the dispatcher sends from when a notification
    names none (ingest names one in every event it accepts now; older events may not)."""
    return CoreSettings().whatsapp_phone_number_id


def _meta_opt_outs(state: Notification, event: Event, learned_recipient: bool) -> list[OptOut]:
    """A 131050 suppresses marketing to the recipient, from the number that sent (never from
    every number: another tenant's sends are not the recipient's business with this one):
    now, or when we learn who it was."""
    if state.recipient is None:
        return []
    sender = state.phone_number_id or default_sender()
    if (
        isinstance(event, NotificationFailed)
        and reaction(event.payload.error.code) is Reaction.OPT_OUT
    ):
        return [OptOut(sender, state.recipient, event.occurred_at)]
    if (
        learned_recipient
        and state.failed_at is not None
        and state.last_error is not None
        and reaction(state.last_error.get("code", "")) is Reaction.OPT_OUT
    ):
        return [OptOut(sender, state.recipient, state.failed_at)]
    return []


def _change(
    state: Notification,
    previous: NotificationStatus | None,
    event: Event,
    learned_recipient: bool,
) -> StatusChange | None:
    """Status changes after acceptance. When the accepted event itself arrives late, the
    customer hears the status reached so far, once."""
    if previous is not None and previous != state.status:
        return StatusChange(state.id, previous, state.status, event)
    if learned_recipient and previous is not None and state.status != NotificationStatus.ACCEPTED:
        return StatusChange(state.id, NotificationStatus.ACCEPTED, state.status, event)
    return None
