"""Cancelling a notification that has not been sent, race-free against the dispatcher.

Both sides meet on one row of the dispatch gate, with one atomic statement each, and both
statements are the dispatcher's: ingest calls its published ``dispatcher.cancel_v1``
(``ingest/dispatcher_contract.py``). A cancel inserts ``cancelled`` (or turns a ``released``
row, between two retries, into ``cancelled``); a dispatcher claims only a missing, released
or lapsed row. Whichever statement commits first wins, so a cancelled notification is never
sent, even when its dispatch command is already queued.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from ingest import dispatcher_contract
from ingest.relay import outbox
from notif_core.events import CancelledPayload, NotificationCancelled
from notif_core.ids import derived_id
from notif_core.vocabulary import ClaimState, NotificationStatus

GATE_TO_STATUS: dict[ClaimState, str] = {
    ClaimState.CLAIMED: "sending",
    ClaimState.SENT: NotificationStatus.SENT,
    ClaimState.FAILED: NotificationStatus.FAILED,
    ClaimState.EXPIRED: NotificationStatus.EXPIRED,
}
"""What a client is told a notification is when the gate holds it and the ledger has not
caught up: a live claim is a send in progress."""


def cancelled_event(tenant_id: UUID, notification_id: UUID, reason: str) -> NotificationCancelled:
    """One id per notification, so the dispatcher's record of the skip is the same event."""
    return NotificationCancelled(
        event_id=derived_id(str(notification_id), NotificationStatus.CANCELLED),
        producer="ingest",
        tenant_id=tenant_id,
        notification_id=notification_id,
        payload=CancelledPayload(reason=reason),
    )


async def cancel(
    conn: AsyncConnection, tenant_id: UUID, notification_id: UUID
) -> tuple[bool, ClaimState]:
    """(cancelled now or before, gate state); the cancelled event goes to the outbox."""
    decided = (await conn.execute(dispatcher_contract.CANCEL, {"id": notification_id})).one()
    if decided.won:
        await outbox.add(conn, "events", cancelled_event(tenant_id, notification_id, "client"))
    state = ClaimState(decided.state)
    return state == ClaimState.CANCELLED, state
