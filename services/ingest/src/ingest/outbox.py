"""Transactional outbox: rows written with the notification, published by the relay.

Every writer adds its events to ``ingest.outbox`` in its own transaction and signals
``NOTIFY ingest_outbox``, which PostgreSQL delivers only at commit. The relay process
(``notif-relay``, :mod:`ingest.relay`) listens, claims due rows with ``FOR UPDATE SKIP
LOCKED``, publishes them ten per SQS call and marks them in the same transaction, so relay
replicas never publish a row twice except across a crash between the SQS call and the
commit; consumers are idempotent on ``event_id``, so that costs a duplicate message, never a
duplicate send. The API process never talks to SQS: an SQS outage delays publishing, never
an answer, and the API's CPU goes to requests.

A scheduled notification's dispatch row becomes available 15 minutes before ``deliver_at``
and travels with an SQS delay for the rest, so even a long-scheduled message arrives on time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest.tables import outbox
from notif_core.db import Rows, execute_at_once
from notif_core.events import Event, dump_event, utcnow
from notif_core.sqs import Outgoing, Publisher, QueueDirectory, QueueKey
from notif_core.sqs._sqs import MAX_BATCH, MAX_DELAY_SECONDS

CHANNEL = "ingest_outbox"
RELAY_BATCH = 500
"""Rows one relay transaction claims: fifty SQS calls, made concurrently."""
SQS_DELAY = timedelta(seconds=MAX_DELAY_SECONDS)
_NOTIFY = f"SELECT pg_notify('{CHANNEL}', '')"
_OUTBOX_COLUMNS = ("queue", "event_id", "body", "deliver_at", "available_at")


@dataclass(frozen=True)
class Pending:
    """An outbox entry to write."""

    queue: QueueKey
    event: Event
    deliver_at: datetime | None = None

    def available_at(self, now: datetime) -> datetime:
        if self.deliver_at is None:
            return now
        return max(now, self.deliver_at - SQS_DELAY)


@dataclass(frozen=True)
class Claimed:
    """A due row, claimed by one relay transaction: its event goes out as stored."""

    id: int
    queue: QueueKey
    message: Outgoing
    deliver_at: datetime | None

    @classmethod
    def of(cls, row_id: int, queue: QueueKey, body: str, deliver_at: datetime | None) -> Claimed:
        fields = orjson.loads(body)  # for the message attributes; no model validation needed
        message = Outgoing(fields["event_id"], fields["type"], body, fields.get("traceparent"))
        return cls(row_id, queue, message, deliver_at)


async def add_many(conn: AsyncConnection, pending: Sequence[Pending]) -> None:
    """Insert entries inside the caller's transaction and wake the relay at its commit."""
    if pending:
        await execute_at_once(conn, statements(pending))


def statements(pending: Sequence[Pending]) -> list[Rows | str]:
    """The INSERT of the entries and the NOTIFY, for :func:`execute_at_once`."""
    if not pending:
        return []
    now = utcnow()
    bodies: dict[int, str] = {}  # an event on two queues is serialised once
    rows = []
    for p in pending:
        body = bodies.get(id(p.event))
        if body is None:
            body = bodies[id(p.event)] = dump_event(p.event)
        rows.append((p.queue, p.event.event_id, body, p.deliver_at, p.available_at(now)))
    return [Rows(outbox, _OUTBOX_COLUMNS, rows), _NOTIFY]


async def add(
    conn: AsyncConnection, queue: QueueKey, event: Event, deliver_at: datetime | None = None
) -> None:
    await add_many(conn, [Pending(queue, event, deliver_at)])


def delay_for(deliver_at: datetime | None) -> int:
    """SQS delay that makes a message visible at ``deliver_at`` (0 to 15 minutes)."""
    if deliver_at is None:
        return 0
    return max(0, min(MAX_DELAY_SECONDS, round((deliver_at - utcnow()).total_seconds())))


async def send_rows(publisher: Publisher, queues: QueueDirectory, rows: Sequence[Claimed]) -> None:
    """Publish rows grouped by queue and delay, ten per SQS call, the calls concurrently."""
    groups: dict[tuple[QueueKey, int], list[Claimed]] = {}
    for row in rows:
        groups.setdefault((row.queue, delay_for(row.deliver_at)), []).append(row)
    calls = []
    for (queue, delay), queued in groups.items():
        url = await queues.url(queue)
        for start in range(0, len(queued), MAX_BATCH):
            chunk = [r.message for r in queued[start : start + MAX_BATCH]]
            calls.append(publisher.publish_serialized(url, chunk, delay_seconds=delay))
    await asyncio.gather(*calls)


class OutboxRelay:
    """Publishes due rows: new ones as their writers commit, scheduled ones when due."""

    def __init__(self, engine: AsyncEngine, publisher: Publisher, queues: QueueDirectory) -> None:
        self._engine = engine
        self._publisher = publisher
        self._queues = queues

    async def relay_once(self, limit: int = RELAY_BATCH) -> int:
        """Publish up to ``limit`` due rows, oldest first; returns how many.

        An SQS failure rolls the claim back: the rows stay due for the next pass.
        """
        async with self._engine.begin() as conn:
            result = await conn.execute(
                select(outbox.c.id, outbox.c.queue, outbox.c.body, outbox.c.deliver_at)
                .where(outbox.c.published_at.is_(None), outbox.c.available_at <= func.now())
                .order_by(outbox.c.available_at, outbox.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = [Claimed.of(r.id, r.queue, r.body, r.deliver_at) for r in result]
            if not rows:
                return 0
            await send_rows(self._publisher, self._queues, rows)
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]))
                .values(published_at=func.now())
            )
        return len(rows)
