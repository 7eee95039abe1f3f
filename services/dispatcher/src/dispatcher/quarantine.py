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
from notif_core.logging import get_logger
from notif_core.sqs import Delivery, Outcome, Publisher
from notif_core.vocabulary import ClaimState

log = get_logger(__name__)
STAGE: Final[quarantine.Stage] = "dispatcher"
TABLE = quarantine.table(MetaData(schema="dispatcher"))


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
        item = await quarantine.store(self._engine, TABLE, STAGE, delivery, reason, detail)
        if settle and item.notification_id is not None:
            await self._fail(item.notification_id, item.tenant_id, reason)
        return Outcome.ack()

    async def _fail(self, nid: UUID, tenant_id: UUID | None, reason: quarantine.Reason) -> None:
        """Settle the gate as failed and report it; nothing when its fate was decided
        already (sent, cancelled, expired, or a claim still held)."""
        if not await self._gate.finish_unclaimed(nid, ClaimState.FAILED):
            return
        event = quarantine.failed_event(nid, tenant_id, reason, STAGE)
        await self._publisher.publish_one(self._events_url, event)
        log.info("quarantined_failed", notification_id=str(nid), reason=reason)
