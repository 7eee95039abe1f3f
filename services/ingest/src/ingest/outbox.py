"""Transactional outbox: rows written with the notification, published after commit.

After commit, rows go to the :class:`OutboxPump`, which publishes everything waiting in
batches of ten per queue and marks them published in one statement: one SQS call and one
UPDATE serve many requests. The relay publishes every row that is due (``available_at``
passed) and still unpublished after a grace period: leftovers of a crash or an SQS outage,
and scheduled notifications whose time has come. Rows are claimed with ``FOR UPDATE SKIP
LOCKED`` and marked in the same transaction, so replicas never publish a row twice except
across a crash between the SQS call and the commit; consumers are idempotent on
``event_id``, so that costs a duplicate message, never a duplicate send.

A scheduled notification's dispatch row becomes available 15 minutes before ``deliver_at``
and travels with an SQS delay for the rest, so even a long-scheduled message arrives on time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest.tables import outbox
from notif_core.events import Event, parse_event, utcnow
from notif_core.logging import get_logger
from notif_core.sqs import Publisher, QueueDirectory, QueueKey
from notif_core.sqs._sqs import MAX_BATCH, MAX_DELAY_SECONDS

log = get_logger(__name__)

RELAY_BATCH = 100
PUMP_MAX_ROWS = 500
PUMP_SLACK = timedelta(seconds=1)
"""Rows due within this much are published by the pump (with their SQS delay) at once."""
SQS_DELAY = timedelta(seconds=MAX_DELAY_SECONDS)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    queue: QueueKey
    event: Event
    deliver_at: datetime | None = None
    available_at: datetime | None = None

    @property
    def due(self) -> bool:
        return self.available_at is None or self.available_at <= utcnow() + PUMP_SLACK


@dataclass(frozen=True)
class Pending:
    """An outbox entry before it has a row id."""

    queue: QueueKey
    event: Event
    deliver_at: datetime | None = None

    def available_at(self, now: datetime) -> datetime:
        if self.deliver_at is None:
            return now
        return max(now, self.deliver_at - SQS_DELAY)


async def add_many(conn: AsyncConnection, pending: Sequence[Pending]) -> list[OutboxRow]:
    """Insert entries inside the caller's transaction.

    One executemany with RETURNING: SQLAlchemy compiles the statement once and sends the rows
    as batched VALUES, so a group of requests costs a round trip, not a row each.
    """
    if not pending:
        return []
    now = utcnow()
    available = [p.available_at(now) for p in pending]
    params = [
        {
            "queue": p.queue,
            "event_id": p.event.event_id,
            "body": p.event.model_dump_json(by_alias=True),
            "deliver_at": p.deliver_at,
            "available_at": at,
        }
        for p, at in zip(pending, available, strict=True)
    ]
    result = await conn.execute(
        outbox.insert().returning(outbox.c.id, sort_by_parameter_order=True), params
    )
    ids = [int(i) for i in result.scalars()]
    return [
        OutboxRow(row_id, p.queue, p.event, p.deliver_at, at)
        for row_id, p, at in zip(ids, pending, available, strict=True)
    ]


async def add(
    conn: AsyncConnection, queue: QueueKey, event: Event, deliver_at: datetime | None = None
) -> OutboxRow:
    (row,) = await add_many(conn, [Pending(queue, event, deliver_at)])
    return row


def delay_for(deliver_at: datetime | None) -> int:
    """SQS delay that makes a message visible at ``deliver_at`` (0 to 15 minutes)."""
    if deliver_at is None:
        return 0
    return max(0, min(MAX_DELAY_SECONDS, round((deliver_at - utcnow()).total_seconds())))


async def send_rows(
    publisher: Publisher, queues: QueueDirectory, rows: Sequence[OutboxRow]
) -> None:
    """Publish rows grouped by queue and delay, ten per SQS call, the calls concurrently."""
    groups: dict[tuple[QueueKey, int], list[OutboxRow]] = {}
    for row in rows:
        groups.setdefault((row.queue, delay_for(row.deliver_at)), []).append(row)
    calls = []
    for (queue, delay), queued in groups.items():
        url = await queues.url(queue)
        for start in range(0, len(queued), MAX_BATCH):
            chunk = [r.event for r in queued[start : start + MAX_BATCH]]
            calls.append(publisher.publish(url, chunk, delay_seconds=delay))
    await asyncio.gather(*calls)


class OutboxPump:
    """Publishes committed rows soon after commit, many requests per SQS call."""

    def __init__(self, engine: AsyncEngine, publisher: Publisher, queues: QueueDirectory) -> None:
        self._engine = engine
        self._publisher = publisher
        self._queues = queues
        self._waiting: list[OutboxRow] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def enqueue(self, rows: Sequence[OutboxRow]) -> None:
        due = [r for r in rows if r.due]
        if due:
            self._waiting.extend(due)
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Publish what is waiting, then stop (what fails stays for the relay)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._waiting:
            await self._flush()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                await self._flush()

    async def _flush(self) -> None:
        rows, self._waiting = self._waiting[:PUMP_MAX_ROWS], self._waiting[PUMP_MAX_ROWS:]
        try:
            await send_rows(self._publisher, self._queues, rows)
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_([r.id for r in rows]), outbox.c.published_at.is_(None))
                    .values(published_at=func.now())
                )
        except Exception as exc:
            log.warning("outbox_eager_publish_failed", error=type(exc).__name__, rows=len(rows))


class OutboxRelay:
    """Publishes whatever the pump could not, and scheduled rows once they are due."""

    def __init__(self, engine: AsyncEngine, publisher: Publisher, queues: QueueDirectory) -> None:
        self._engine = engine
        self._publisher = publisher
        self._queues = queues

    async def relay_once(self, grace_seconds: float) -> int:
        """Publish up to one batch of due rows older than the grace period; returns how many."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                select(outbox.c.id, outbox.c.queue, outbox.c.body, outbox.c.deliver_at)
                .where(
                    outbox.c.published_at.is_(None),
                    outbox.c.available_at <= func.now(),
                    outbox.c.created_at
                    < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, grace_seconds),
                )
                .order_by(outbox.c.available_at, outbox.c.id)
                .limit(RELAY_BATCH)
                .with_for_update(skip_locked=True)
            )
            rows = [OutboxRow(r.id, r.queue, parse_event(r.body), r.deliver_at) for r in result]
            if not rows:
                return 0
            await send_rows(self._publisher, self._queues, rows)
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]))
                .values(published_at=func.now())
            )
        log.info("outbox_relayed", rows=len(rows))
        return len(rows)
