"""Appending events (idempotent on ``event_id``) and projecting them onto the read model.

One call handles one SQS batch in one transaction: every new event is stored and projected,
and every duplicate is skipped, so replaying a batch changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.optouts import DEFAULT_KEYWORDS, Keywords
from ledger.status import next_status
from ledger.tables import LIVE, ReadModel, events
from notif_core.events import (
    STATUS_OF_EVENT,
    Event,
    MessageInboundReceived,
    NotificationAccepted,
    NotificationFailed,
    RecipientOptedIn,
    RecipientOptedOut,
)

_TIMESTAMP_COLUMN = {
    "accepted": "accepted_at",
    "sent": "sent_at",
    "delivered": "delivered_at",
    "read": "read_at",
    "failed": "failed_at",
}


def _wamid(event: Event) -> str | None:
    wamid = getattr(event.payload, "wamid", None)
    return wamid if isinstance(wamid, str) else None


async def _resolve_notification(conn: AsyncConnection, event: Event, rm: ReadModel) -> UUID | None:
    """The event's notification, found by wamid when Meta did not echo our id."""
    if event.notification_id is not None:
        return event.notification_id
    wamid = _wamid(event)
    if wamid is None:
        return None
    found = (
        await conn.execute(select(rm.notifications.c.id).where(rm.notifications.c.wamid == wamid))
    ).scalar_one_or_none()
    return found


async def append(
    conn: AsyncConnection,
    batch: Sequence[Event],
    keywords: Keywords = DEFAULT_KEYWORDS,
    rm: ReadModel = LIVE,
) -> int:
    """Store and project every event not seen before; returns how many were new."""
    new = 0
    for event in batch:
        notification_id = await _resolve_notification(conn, event, rm)
        inserted = (
            await conn.execute(
                insert(events)
                .values(
                    event_id=event.event_id,
                    type=event.type,
                    notification_id=notification_id,
                    tenant_id=event.tenant_id,
                    occurred_at=event.occurred_at,
                    body=event.model_dump(mode="json", by_alias=True),
                )
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(events.c.seq)
            )
        ).scalar_one_or_none()
        if inserted is None:
            continue
        new += 1
        await apply(conn, event, notification_id, keywords, rm)
    return new


async def apply(
    conn: AsyncConnection,
    event: Event,
    notification_id: UUID | None,
    keywords: Keywords,
    rm: ReadModel,
) -> None:
    """Project one stored event onto the read models: the single code path of both the
    live consumer and a rebuild, so a rebuild reproduces exactly what was built live."""
    if notification_id is not None:
        await project(conn, notification_id, event, rm)
    await project_recipient(conn, event, notification_id, keywords, rm)


async def project_recipient(
    conn: AsyncConnection,
    event: Event,
    notification_id: UUID | None,
    keywords: Keywords,
    rm: ReadModel,
) -> None:
    """Windows from inbound messages; the suppression list from opt-out and opt-in events,
    from keywords in inbound messages, and from Meta's 131050 (marketing only)."""
    if isinstance(event, MessageInboundReceived):
        p = event.payload
        stmt = insert(rm.windows).values(
            phone_number_id=p.phone_number_id, recipient=p.from_, last_inbound_at=p.received_at
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["phone_number_id", "recipient"],
                set_={
                    "last_inbound_at": func.greatest(rm.windows.c.last_inbound_at, p.received_at)
                },
            )
        )
        verdict = keywords.classify(p.text)
        if verdict == "opt_out":
            await _suppress(
                conn, rm, p.phone_number_id, p.from_, "all", "keyword", event.occurred_at
            )
        elif verdict == "opt_in":
            await _lift(conn, rm, p.phone_number_id, p.from_, event.occurred_at)
    elif isinstance(event, RecipientOptedOut):
        o = event.payload
        await _suppress(
            conn, rm, o.phone_number_id or "*", o.recipient, o.scope, o.source, event.occurred_at
        )
    elif isinstance(event, RecipientOptedIn):
        i = event.payload
        await _lift(conn, rm, i.phone_number_id or "*", i.recipient, event.occurred_at)
    elif isinstance(event, NotificationAccepted) and notification_id is not None:
        # A 131050 that arrived before its notification's accepted event applies now.
        sender = event.payload.phone_number_id or "*"
        for at in await _opted_out_by_meta(conn, notification_id):
            await _suppress(conn, rm, sender, event.payload.to, "marketing", "meta_error", at)
    elif (
        isinstance(event, NotificationFailed)
        and str(event.payload.error.code) == "131050"
        and notification_id is not None
    ):
        target = await _recipient_of(conn, notification_id)
        if target is not None:
            sender, recipient = target
            await _suppress(
                conn, rm, sender, recipient, "marketing", "meta_error", event.occurred_at
            )


async def _suppress(
    conn: AsyncConnection,
    rm: ReadModel,
    sender: str,
    recipient: str,
    scope: str,
    source: str,
    at: datetime,
) -> None:
    table = rm.suppressions
    stmt = insert(table).values(
        phone_number_id=sender, recipient=recipient, scope=scope, source=source, since=at
    )
    newer = (table.c.since.is_(None)) | (stmt.excluded.since >= table.c.since)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["phone_number_id", "recipient", "scope"],
            set_={
                "since": func.greatest(table.c.since, stmt.excluded.since),
                "source": case((newer, stmt.excluded.source), else_=table.c.source),
            },
        )
    )


async def _lift(
    conn: AsyncConnection, rm: ReadModel, sender: str, recipient: str, at: datetime
) -> None:
    """An opt-in lifts opt-outs older than it, in every scope; a later opt-out wins again."""
    table = rm.suppressions
    for scope in ("all", "marketing"):
        stmt = insert(table).values(
            phone_number_id=sender, recipient=recipient, scope=scope, lifted_at=at
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["phone_number_id", "recipient", "scope"],
                set_={"lifted_at": func.greatest(table.c.lifted_at, stmt.excluded.lifted_at)},
            )
        )


async def _opted_out_by_meta(conn: AsyncConnection, notification_id: UUID) -> list[datetime]:
    """When Meta reported 131050 for this notification (events already stored)."""
    rows = await conn.execute(
        select(events.c.occurred_at).where(
            events.c.notification_id == notification_id,
            events.c.type == "notification.failed",
            events.c.body["payload"]["error"]["code"].astext == "131050",
        )
    )
    return [r.occurred_at for r in rows]


async def _recipient_of(conn: AsyncConnection, notification_id: UUID) -> tuple[str, str] | None:
    """(sender, recipient) from the notification's accepted event, if the ledger has it."""
    row = (
        await conn.execute(
            select(events.c.body).where(
                events.c.notification_id == notification_id,
                events.c.type == "notification.accepted",
            )
        )
    ).first()
    if row is None:
        return None
    payload = row.body.get("payload", {})
    return payload.get("phone_number_id") or "*", payload["to"]


async def project(
    conn: AsyncConnection, notification_id: UUID, event: Event, rm: ReadModel
) -> None:
    """Apply one new event to the notification's row under a row lock."""
    incoming = STATUS_OF_EVENT.get(event.type)
    if incoming is None and event.type != "notification.attempt_failed":
        return
    row = (
        await conn.execute(
            select(rm.notifications)
            .where(rm.notifications.c.id == notification_id)
            .with_for_update()
        )
    ).one_or_none()
    current = row.status if row is not None else None
    changes: dict[str, Any] = {}
    if incoming is not None:
        status = next_status(current, incoming)
        if status is not None:
            changes["status"] = status
        column = _TIMESTAMP_COLUMN.get(incoming)
        if column and (row is None or getattr(row, column) is None):
            changes[column] = event.occurred_at
    if row is not None and row.tenant_id is None and event.tenant_id is not None:
        changes["tenant_id"] = event.tenant_id
    wamid = _wamid(event)
    if wamid and (row is None or row.wamid is None):
        changes["wamid"] = wamid
    error = getattr(event.payload, "error", None)
    if error is not None:
        changes["last_error"] = error.model_dump(mode="json")
    if event.type == "notification.attempt_failed":
        changes["attempts"] = (row.attempts if row is not None else 0) + 1
    if row is None:
        await _insert_row(conn, rm, notification_id, event, changes, incoming)
    elif changes:
        await conn.execute(
            rm.notifications.update()
            .where(rm.notifications.c.id == notification_id)
            .values(**changes, updated_at=_latest(row.updated_at, event.occurred_at))
        )


async def _insert_row(
    conn: AsyncConnection,
    rm: ReadModel,
    notification_id: UUID,
    event: Event,
    changes: dict[str, Any],
    incoming: str | None,
) -> None:
    """First event seen for a notification, which need not be ``accepted``."""
    changes.setdefault("status", incoming or "accepted")
    await conn.execute(
        rm.notifications.insert().values(
            id=notification_id,
            tenant_id=event.tenant_id,
            updated_at=event.occurred_at,
            **changes,
        )
    )


def _latest(a: datetime, b: datetime) -> datetime:
    return max(a, b)
