"""Cancelling a notification that has not been sent, race-free against the dispatcher.

Both sides meet on one row of the dispatch gate, ``dispatcher.claims``, with one atomic
statement each. A cancel inserts ``cancelled`` (or turns a ``released`` row, between two
retries, into ``cancelled``); a dispatcher claims only a missing, released or lapsed row.
Whichever statement commits first wins, so a cancelled notification is never sent, even
when its dispatch command is already queued.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.relay import outbox
from notif_core.events import CancelledPayload, NotificationCancelled
from notif_core.ids import derived_id

_CANCEL = text(
    """
    INSERT INTO dispatcher.claims (notification_id, state, updated_at)
    VALUES (:id, 'cancelled', now())
    ON CONFLICT (notification_id) DO UPDATE
        SET state = 'cancelled', owner = NULL, lease_until = NULL, updated_at = now()
        WHERE dispatcher.claims.state = 'released'
    RETURNING state
    """
)
_STATE = text("SELECT state FROM dispatcher.claims WHERE notification_id = :id")

GATE_TO_STATUS = {"claimed": "sending", "sent": "sent", "failed": "failed", "expired": "expired"}


def cancelled_event(tenant_id: UUID, notification_id: UUID, reason: str) -> NotificationCancelled:
    """One id per notification, so the dispatcher's record of the skip is the same event."""
    return NotificationCancelled(
        event_id=derived_id(str(notification_id), "cancelled"),
        producer="ingest",
        tenant_id=tenant_id,
        notification_id=notification_id,
        payload=CancelledPayload(reason=reason),
    )


async def cancel(conn: AsyncConnection, tenant_id: UUID, notification_id: UUID) -> tuple[bool, str]:
    """(cancelled now or before, gate state); the cancelled event goes to the outbox."""
    won = (await conn.execute(_CANCEL, {"id": notification_id})).first()
    if won is not None:
        await outbox.add(conn, "events", cancelled_event(tenant_id, notification_id, "client"))
        return True, "cancelled"
    state = (await conn.execute(_STATE, {"id": notification_id})).scalar_one()
    return state == "cancelled", state
