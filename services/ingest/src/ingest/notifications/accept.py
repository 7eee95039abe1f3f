"""Accepting notifications: turn valid requests into rows, events and outbox entries.

Everything for a set of notifications is written in the caller's one transaction, so a
batch is accepted atomically and a crash leaves either all of it or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import get_args
from uuid import UUID

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.account.keys import Tenant
from ingest.api.errors import ApiError
from ingest.api.schemas import Accepted, NotificationRequest
from ingest.relay import outbox
from ingest.settings import IngestSettings
from ingest.tables import notifications
from ingest.templates.catalogue import Catalogue
from ingest.templates.checks import check_send
from ingest.templates.definition import Definition
from notif_core.db import Rows, execute_at_once
from notif_core.events import (
    AcceptedPayload,
    NotificationAccepted,
    NotificationScheduled,
    ScheduledPayload,
    dump_event,
)
from notif_core.ids import new_id
from notif_core.sqs import Outgoing, QueueKey
from notif_core.sqs.limits import MAX_MESSAGE_BYTES
from notif_core.telemetry import current_traceparent
from notif_core.vocabulary import Category, NotificationStatus, Priority

PRODUCER = "ingest"
_CATEGORIES: dict[str, Category] = {c: c for c in get_args(Category)}
"""Meta's template categories (lower-cased) that a notification can carry."""


@dataclass(frozen=True)
class Prepared:
    id: UUID
    request: NotificationRequest
    event: NotificationAccepted
    send_at: datetime | None
    body: str
    """``event`` serialised, as it goes to the outbox (checked to fit one SQS message)."""

    @property
    def sender(self) -> str:
        """The sender number it goes from (``phone_number_id``, always set by :func:`prepare`)."""
        sender = self.event.payload.phone_number_id
        assert sender is not None
        return sender

    @property
    def answer(self) -> Accepted:
        if self.send_at is not None:
            return Accepted(id=self.id, status=NotificationStatus.SCHEDULED, send_at=self.send_at)
        return Accepted(id=self.id)


def fallback_sender(settings: IngestSettings) -> str | None:
    """The number a tenant with no numbers of its own may send from: the default sender,
    and only in a deployment that says it serves one business (``SINGLE_TENANT``)."""
    return settings.whatsapp_phone_number_id if settings.single_tenant else None


def no_sender_assigned() -> ApiError:
    return ApiError(
        422,
        "no_sender_assigned",
        "No sender number is assigned to this tenant; ask the operator to assign one "
        "(notifctl keys create --tenant … --phone-number-id …).",
        field="phone_number_id",
    )


def choose_sender(tenant: Tenant, chosen: str | None, fallback: str | None) -> str:
    """The number a notification goes from: the one chosen if it is the tenant's, else the
    tenant's first; for a tenant without numbers, ``fallback`` (see :func:`fallback_sender`).
    422 ``unknown_sender`` for a number that is not the tenant's, ``no_sender_assigned``
    when the tenant has none to send from."""
    own = tenant.phone_number_ids or ((fallback,) if fallback else ())
    if not own:
        raise no_sender_assigned()
    if chosen is None:
        return own[0]
    if chosen not in own:
        raise ApiError(
            422,
            "unknown_sender",
            "phone_number_id is not one of this tenant's numbers.",
            field="phone_number_id",
        )
    return chosen


async def prepare_checked(
    tenant: Tenant,
    request: NotificationRequest,
    now: datetime,
    *,
    catalogue: Catalogue,
    settings: IngestSettings,
    fallback: str | None = None,
) -> Prepared:
    """:func:`prepare` after the door's template check (raises its 422), which is made
    against the sender's business account and gives the template's definition: the
    notification carries Meta's category, one catalogue lookup for both."""
    sender = choose_sender(tenant, request.phone_number_id, fallback)
    definition = None
    if request.template is not None:
        definition = await check_send(catalogue, settings, sender, request.template)
    return prepare(tenant, request, now, sender=sender, definition=definition)


def category_and_priority(
    request: NotificationRequest, definition: Definition | None
) -> tuple[Category | None, Priority]:
    """Meta's category of a template the catalogue knows (lower-cased), else the tenant's
    hint; and the lane: the tenant's ``priority`` if set, else high for an authentication
    template (a one-time code is useless late), normal otherwise."""
    hint = request.template.category if request.template is not None else None
    category = _CATEGORIES.get(definition.category.lower()) if definition is not None else None
    if category is None:
        return hint, request.effective_priority()
    if request.priority is not None:
        return category, request.priority
    return category, "high" if category == "authentication" else "normal"


def prepare(
    tenant: Tenant,
    request: NotificationRequest,
    now: datetime,
    *,
    fallback: str | None = None,
    sender: str | None = None,
    definition: Definition | None = None,
) -> Prepared:
    """Check what needs the tenant, and build the ``notification.accepted`` event.

    The event always names its sender, so everything downstream (the dispatcher's checks,
    the ledger's opt-outs from Meta's 131050) keys on a number the tenant holds. ``sender``
    when already chosen (:func:`prepare_checked`); ``definition``, the template's as the
    door checked it, gives the category and the lane (:func:`category_and_priority`)."""
    if sender is None:
        sender = choose_sender(tenant, request.phone_number_id, fallback)
    notification_id = new_id()
    send_at = request.send_at if request.send_at is not None and request.send_at > now else None
    category, priority = category_and_priority(request, definition)
    event = NotificationAccepted(
        producer=PRODUCER,
        tenant_id=tenant.id,
        notification_id=notification_id,
        occurred_at=now,
        traceparent=current_traceparent(),
        payload=AcceptedPayload(
            to=request.to,
            message=request.cloud_api_message(),
            priority=priority,
            category=category,
            phone_number_id=sender,
            expires_at=request.effective_expiry(now),
            send_at=send_at,
            metadata=request.metadata,
            callback_url=request.callback_url or tenant.callback_url,
        ),
    )
    body = dump_event(event)
    message = Outgoing(str(event.event_id), event.type, body, event.traceparent)
    if not message.fits:
        raise ApiError(
            422,
            "notification_too_large",
            f"The notification would travel as {message.size} bytes; the limit is "
            f"{MAX_MESSAGE_BYTES} (one queue message). Send less in the largest field.",
            field=_largest_field(request),
        )
    return Prepared(notification_id, request, event, send_at, body)


def _largest_field(request: NotificationRequest) -> str:
    """The request field that contributes most to its size, for the error's ``field``."""
    sizes = {
        name: len(orjson.dumps(value)) for name, value in request.model_dump(mode="json").items()
    }
    name = max(sizes, key=sizes.__getitem__)
    if name == "template" and request.template is not None:
        return "template.components"
    return name


NOTIFICATION_COLUMNS = (
    "id",
    "tenant_id",
    "to",
    "priority",
    "request",
    "send_at",
    "expires_at",
    "callback_url",
)


def notification_row(tenant: Tenant, p: Prepared) -> tuple[object, ...]:
    """The ``ingest.notifications`` row, in ``NOTIFICATION_COLUMNS`` order."""
    return (
        p.id,
        tenant.id,
        p.request.to,
        p.event.payload.priority,
        p.request.model_dump_json(exclude_none=True),
        p.send_at,
        p.event.payload.expires_at,
        p.event.payload.callback_url,
    )


def outbox_entries(tenant: Tenant, p: Prepared) -> list[outbox.Pending]:
    """The accepted event for the ledger, a scheduled event if any, the dispatch command."""
    entries = [outbox.Pending("events", p.event, body=p.body)]
    if p.send_at is not None:
        scheduled = NotificationScheduled(
            producer=PRODUCER,
            tenant_id=tenant.id,
            notification_id=p.id,
            occurred_at=p.event.occurred_at,
            payload=ScheduledPayload(send_at=p.send_at),
        )
        entries.append(outbox.Pending("events", scheduled))
    queue: QueueKey = "dispatch_high" if p.event.payload.priority == "high" else "dispatch"
    entries.append(outbox.Pending(queue, p.event, deliver_at=p.send_at, body=p.body))
    return entries


async def write(conn: AsyncConnection, items: Sequence[tuple[Tenant, Prepared]]) -> None:
    """Insert notifications and their outbox rows, and wake the relay: one round trip for
    any number of them."""
    if not items:
        return
    rows = Rows(notifications, NOTIFICATION_COLUMNS, [notification_row(t, p) for t, p in items])
    pending = [e for t, p in items for e in outbox_entries(t, p)]
    await execute_at_once(conn, [rows, *outbox.statements(pending)])
