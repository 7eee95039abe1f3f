"""The events-queue handler: parse a batch, append it in one transaction, then acknowledge."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import store
from ledger.optouts import DEFAULT_KEYWORDS, Keywords
from ledger.rebuild import share_lock
from notif_core.events import Event, parse_event
from notif_core.logging import get_logger
from notif_core.sqs import Delivery, Outcome

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
        if parsed:
            async with self._engine.begin() as conn:
                await share_lock(conn)  # a rebuild's swap waits for this batch, and vice versa
                new = await store.append(conn, parsed, self._keywords)
            log.info("events_appended", received=len(parsed), new=new)
        return outcomes
