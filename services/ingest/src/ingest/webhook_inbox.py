"""Meta's webhooks: stored durably, with their events, before the 200.

Answering fast matters (Meta retries slow endpoints) and so does losing nothing: in one
transaction the raw bytes go to ``webhook_inbox`` and the events they carry to the outbox,
which the relay publishes as soon as the transaction commits. Duplicates are harmless: event
ids derive from (wamid, status). A body we cannot translate stays in the inbox unprocessed,
for an operator to look at.
"""

from __future__ import annotations

import json

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest import outbox
from ingest.meta_webhooks import events_from_payload
from ingest.metrics import WEBHOOK_EVENTS
from ingest.tables import webhook_inbox
from notif_core.events import Event
from notif_core.logging import get_logger
from notif_core.sqs.publisher import with_trace

log = get_logger(__name__)


class WebhookInbox:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def store(self, raw: bytes) -> int:
        """Commit the raw body and its events; returns how many events it carried."""
        events: list[Event] | None
        try:
            events = [with_trace(e) for e in events_from_payload(json.loads(raw))]
        except Exception as exc:  # signed by Meta but not understood: keep it for inspection
            log.error("webhook_not_translated", error=type(exc).__name__)
            events = None
        async with self._engine.begin() as conn:
            await conn.execute(
                webhook_inbox.insert().values(
                    body=raw, processed_at=None if events is None else func.now()
                )
            )
            await outbox.add_many(conn, [outbox.Pending("events", e) for e in events or []])
        for event in events or []:
            WEBHOOK_EVENTS.labels(type=event.type).inc()
        return len(events or [])
