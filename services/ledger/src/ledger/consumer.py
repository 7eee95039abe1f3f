"""The events-queue handler: parse a batch, append it in one transaction, then acknowledge."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import metrics, store
from ledger.optouts import DEFAULT_KEYWORDS, Keywords
from ledger.rebuild import share_lock
from notif_core import telemetry
from notif_core.events import Event, parse_event
from notif_core.logging import get_logger
from notif_core.sqs import Delivery, Outcome, error_backoff

log = get_logger(__name__)


class EventsHandler:
    """Batch handler for :meth:`notif_core.sqs.Consumer.run_batches`."""

    def __init__(self, engine: AsyncEngine, keywords: Keywords = DEFAULT_KEYWORDS) -> None:
        self._engine = engine
        self._keywords = keywords

    async def __call__(self, deliveries: list[Delivery]) -> list[Outcome]:
        parsed: list[Event] = []
        outcomes: list[Outcome] = []
        for delivery in deliveries:
            try:
                parsed.append(parse_event(delivery.body))
                outcomes.append(Outcome.ack())
            except ValidationError:
                # Not an event we understand: leave it; the redrive policy parks it in the DLQ.
                log.error("unparseable_event", message_id=delivery.message_id)
                outcomes.append(Outcome(delete=False))
        if not parsed:
            return outcomes
        try:
            with telemetry.batch_spans("events project", [e.traceparent for e in parsed]):
                new = await self._append(parsed)
        except Exception:
            # One bad event must not hold the whole batch hostage: append them one by one,
            # so only the event that fails goes back to the queue (and on to the DLQ).
            log.exception("batch_append_failed", size=len(parsed))
            return await self._one_by_one(deliveries, parsed, outcomes)
        log.info("events_appended", received=len(parsed), new=new)
        return outcomes

    async def _append(self, batch: list[Event]) -> int:
        async with self._engine.begin() as conn:
            await share_lock(conn)  # a rebuild's swap waits for this batch, and vice versa
            appended = await store.append(conn, batch, self._keywords)
        metrics.record(appended)
        return appended.new

    async def _one_by_one(
        self, deliveries: list[Delivery], parsed: list[Event], outcomes: list[Outcome]
    ) -> list[Outcome]:
        events = iter(parsed)
        result = []
        for delivery, outcome in zip(deliveries, outcomes, strict=True):
            if not outcome.delete:  # unparseable: already left for the DLQ
                result.append(outcome)
                continue
            event = next(events)
            try:
                await self._append([event])
                result.append(Outcome.ack())
            except Exception:
                log.exception("event_append_failed", event_id=str(event.event_id))
                result.append(Outcome.retry(error_backoff(delivery.receive_count)))
        return result
