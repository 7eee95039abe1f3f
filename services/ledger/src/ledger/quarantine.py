"""Setting an events-queue message aside in ``ledger.quarantine``, with its reason, so the
rest of its batch (and everything behind it) is projected."""

from __future__ import annotations

from typing import Final

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from notif_core import quarantine
from notif_core.logging import get_logger
from notif_core.sqs import Delivery, Outcome

log = get_logger(__name__)
STAGE: Final[quarantine.Stage] = "ledger"
TABLE = quarantine.table(MetaData(schema="ledger"))


async def set_aside(
    engine: AsyncEngine, delivery: Delivery, reason: quarantine.Reason, detail: str
) -> Outcome:
    """Store the message with its reason, count and log it, and acknowledge it."""
    item = quarantine.Item.of(delivery, reason, detail)
    async with engine.begin() as conn:
        item_id = await quarantine.insert(conn, TABLE, item)
    quarantine.record(STAGE, reason)
    log.warning(
        "quarantined",
        stage=STAGE,
        id=item_id,
        reason=reason,
        detail=detail,
        message_id=delivery.message_id,
        receive_count=delivery.receive_count,
        notification_id=str(item.notification_id) if item.notification_id else None,
    )
    return Outcome.ack()
