"""Meta's webhooks: stored durably, with their events, before the 200.

Answering fast matters (Meta retries slow endpoints) and so does losing nothing: in one
transaction the raw bytes go to ``webhook_inbox`` and the events they carry to the outbox,
which the relay publishes as soon as the transaction commits. Duplicates are harmless: event
ids derive from (wamid, status). They are also cheap: an event this process has already
committed is not queued again (Meta repeats a message's pricing on each of its statuses, and
redelivers webhooks), so six messages per notification reach the events queue, not eight.
A body we cannot translate stays in the inbox unprocessed, for an operator to look at.
Inbound messages also move their sender's mark (``inbound_marks.py``) in the same
transaction, so the dispatcher knows of them before the ledger has projected them.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest import inbound_marks, outbox
from ingest.meta_webhooks import events_from_payload
from ingest.metrics import WEBHOOK_EVENTS
from ingest.tables import webhook_inbox
from notif_core.events import Event
from notif_core.logging import get_logger
from notif_core.sqs.publisher import with_trace

log = get_logger(__name__)


RECENT_EVENTS = 32_768
"""Event ids remembered per process: minutes of statuses at full speed, a few MB."""


class RecentIds:
    """The last ``size`` ids added, oldest forgotten first."""

    def __init__(self, size: int = RECENT_EVENTS) -> None:
        self._size = size
        self._ids: OrderedDict[UUID, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, ids: Iterable[UUID]) -> None:
        for event_id in ids:
            self._ids[event_id] = None
            self._ids.move_to_end(event_id)
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)


class WebhookInbox:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._committed = RecentIds()
        """Best effort, per replica: the ledger still stores each event once."""

    def _not_yet_queued(self, events: Iterable[Event]) -> list[Event]:
        fresh: dict[UUID, Event] = {}
        for event in events:
            if event.event_id not in self._committed and event.event_id not in fresh:
                fresh[event.event_id] = with_trace(event)
        return list(fresh.values())

    async def store(self, raw: bytes) -> int:
        """Commit the raw body and its events; returns how many events it queued."""
        events: list[Event] | None
        marks: list[inbound_marks.Mark] = []
        try:
            payload = json.loads(raw)
            events = self._not_yet_queued(events_from_payload(payload))
            marks = inbound_marks.from_payload(payload)
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
            await inbound_marks.upsert(conn, marks)
        self._committed.add(e.event_id for e in events or [])
        for event in events or []:
            WEBHOOK_EVENTS.labels(type=event.type).inc()
        return len(events or [])
