"""The events-queue handler: parse a batch, append it in one transaction, then acknowledge.

What can never be projected is set aside (``quarantine.py``) and acknowledged, so it holds
up neither its batch nor the queue: a body that is not an event at once, and an event whose
projection fails on its own, isolated by appending the batch's events one by one after the
batch failed. A database outage is no event's fault: everything then waits and is retried.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import metrics, store
from ledger.optouts import DEFAULT_KEYWORDS, Keywords
from ledger.quarantine import set_aside
from ledger.rebuild import share_lock
from notif_core import quarantine, telemetry
from notif_core.db import ping
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
        outcomes = [Outcome.ack() for _ in deliveries]
        parsed: list[tuple[int, Event]] = []
        for index, delivery in enumerate(deliveries):
            try:
                parsed.append((index, parse_event(delivery.body)))
            except ValidationError as exc:
                reason, why = quarantine.parse_failure(exc)
                outcomes[index] = await set_aside(self._engine, delivery, reason, why)
        if not parsed:
            return outcomes
        events = [event for _, event in parsed]
        try:
            with telemetry.batch_spans("events project", [e.traceparent for e in events]):
                new = await self._append(events)
        except Exception:
            # One bad event must not hold the whole batch hostage: append them one by one,
            # so only the event that fails is retried or set aside.
            log.exception("batch_append_failed", size=len(events))
            for index, event in parsed:
                outcomes[index] = await self._append_alone(deliveries[index], event)
            return outcomes
        log.info("events_appended", received=len(events), new=new)
        return outcomes

    async def _append(self, batch: list[Event]) -> int:
        async with self._engine.begin() as conn:
            await share_lock(conn)  # a rebuild's swap waits for this batch, and vice versa
            appended = await store.append(conn, batch, self._keywords)
        metrics.record(appended)
        return appended.new

    async def _append_alone(self, delivery: Delivery, event: Event) -> Outcome:
        try:
            await self._append([event])
        except Exception as exc:
            log.exception("event_append_failed", event_id=str(event.event_id))
            if quarantine.is_outage(exc) or not await ping(self._engine):
                return Outcome.retry(error_backoff(delivery.receive_count))
            if _certain(exc) or delivery.receive_count >= quarantine.LAST_RECEIVE:
                return await set_aside(
                    self._engine, delivery, "handler_error", quarantine.detail(exc)
                )
            return Outcome.retry(error_backoff(delivery.receive_count))
        return Outcome.ack()


def _certain(exc: BaseException) -> bool:
    """Whether the same event would fail the same way again: a value the database refuses,
    or a fault in our own code. Other database errors (a conflict with a concurrent batch)
    get the usual retries first."""
    return isinstance(exc, sa_exc.DataError) or not isinstance(exc, sa_exc.SQLAlchemyError)
