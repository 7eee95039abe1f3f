"""Setting a dispatch message aside: kept in ``dispatcher.quarantine`` with its reason, and
the notification it names (when it can be read) ended ``failed`` with code ``quarantined``,
so its client hears the outcome instead of waiting on ``accepted`` forever."""

from __future__ import annotations

from typing import Final
from uuid import UUID

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from dispatcher.gate import Gate
from notif_core import quarantine
from notif_core.events import FailedPayload, MetaError, NotificationFailed
from notif_core.ids import derived_id
from notif_core.logging import get_logger
from notif_core.sqs import Delivery, Outcome, Publisher

log = get_logger(__name__)
STAGE: Final[quarantine.Stage] = "dispatcher"
TABLE = quarantine.table(MetaData(schema="dispatcher"))
QUARANTINED_CODE = "quarantined"


def quarantined_error(reason: quarantine.Reason) -> MetaError:
    """The error a set-aside notification fails with (``details``: the reason class)."""
    return MetaError(
        code=QUARANTINED_CODE, title="Set aside: could not be processed", details=reason
    )


class DispatchQuarantine:
    def __init__(
        self, engine: AsyncEngine, gate: Gate, publisher: Publisher, events_queue_url: str
    ) -> None:
        self._engine = engine
        self._gate = gate
        self._publisher = publisher
        self._events_url = events_queue_url

    async def set_aside(
        self,
        delivery: Delivery,
        reason: quarantine.Reason,
        detail: str,
        *,
        settle: bool = True,
    ) -> Outcome:
        """Store the message, end its notification ``failed`` (when ``settle`` and the body
        names one), and acknowledge it so that the messages behind it flow."""
        item = quarantine.Item.of(delivery, reason, detail)
        async with self._engine.begin() as conn:
            item_id = await quarantine.insert(conn, TABLE, item)
        quarantine.record(STAGE, reason)
        failed = False
        if settle and item.notification_id is not None:
            failed = await self._fail(item.notification_id, item.tenant_id, reason)
        log.warning(
            "quarantined",
            stage=STAGE,
            id=item_id,
            reason=reason,
            detail=detail,
            message_id=delivery.message_id,
            receive_count=delivery.receive_count,
            notification_id=str(item.notification_id) if item.notification_id else None,
            failed=failed,
        )
        return Outcome.ack()

    async def _fail(self, nid: UUID, tenant_id: UUID | None, reason: quarantine.Reason) -> bool:
        """Settle the gate as failed and report it; nothing when its fate was decided
        already (sent, cancelled, expired, or a claim still held)."""
        if not await self._gate.finish_unclaimed(nid, "failed"):
            return False
        await self._publisher.publish_one(
            self._events_url,
            NotificationFailed(
                event_id=derived_id(str(nid), QUARANTINED_CODE),
                producer=STAGE,
                tenant_id=tenant_id,
                notification_id=nid,
                payload=FailedPayload(error=quarantined_error(reason), attempts=0),
            ),
        )
        return True
