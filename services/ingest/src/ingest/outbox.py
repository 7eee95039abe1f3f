"""Transactional outbox: rows written with the notification, published after commit.

The request path publishes its own rows right after commit. The relay loop publishes every
row that is due (``available_at`` passed) and still unpublished after a grace period:
leftovers of a crash or an SQS outage, and scheduled notifications whose time has come.
Rows are claimed with ``FOR UPDATE SKIP LOCKED`` and marked in the same transaction, so
replicas never publish a row twice except across a crash between the SQS call and the
commit; consumers are idempotent on ``event_id``, so that costs a duplicate message, never a
duplicate send.

A scheduled notification's dispatch row becomes available 15 minutes before ``deliver_at``
and travels with an SQS delay for the rest, so even a long-scheduled message arrives on time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest.tables import outbox
from notif_core.events import Event, parse_event, utcnow
from notif_core.logging import get_logger
from notif_core.sqs import Publisher, QueueDirectory, QueueKey
from notif_core.sqs._sqs import MAX_DELAY_SECONDS

log = get_logger(__name__)

RELAY_BATCH = 100
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
        return self.available_at is None or self.available_at <= utcnow()


async def add(
    conn: AsyncConnection, queue: QueueKey, event: Event, deliver_at: datetime | None = None
) -> OutboxRow:
    """Write one event for ``queue`` inside the caller's transaction."""
    available_at = deliver_at - SQS_DELAY if deliver_at is not None else None
    if available_at is not None and available_at <= utcnow():
        available_at = None  # within the SQS delay: publish now
    values: dict[str, object] = {
        "queue": queue,
        "event_id": event.event_id,
        "body": event.model_dump_json(by_alias=True),
        "deliver_at": deliver_at,
    }
    if available_at is not None:
        values["available_at"] = available_at
    result = await conn.execute(outbox.insert().values(**values).returning(outbox.c.id))
    return OutboxRow(int(result.scalar_one()), queue, event, deliver_at, available_at)


def delay_for(deliver_at: datetime | None) -> int:
    """SQS delay that makes a message visible at ``deliver_at`` (0 to 15 minutes)."""
    if deliver_at is None:
        return 0
    return max(0, min(MAX_DELAY_SECONDS, round((deliver_at - utcnow()).total_seconds())))


class OutboxPublisher:
    """Publishes outbox rows and marks them published."""

    def __init__(self, engine: AsyncEngine, publisher: Publisher, queues: QueueDirectory) -> None:
        self._engine = engine
        self._publisher = publisher
        self._queues = queues

    async def _send(self, rows: Sequence[OutboxRow]) -> None:
        groups: dict[tuple[QueueKey, int], list[OutboxRow]] = {}
        for row in rows:
            groups.setdefault((row.queue, delay_for(row.deliver_at)), []).append(row)
        for (queue, delay), queued in groups.items():
            url = await self._queues.url(queue)
            await self._publisher.publish(url, [r.event for r in queued], delay_seconds=delay)

    async def publish_after_commit(self, rows: Sequence[OutboxRow]) -> None:
        """The eager path for rows already due; a failure here is left to the relay."""
        due = [r for r in rows if r.due]
        if not due:
            return
        try:
            await self._send(due)
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_([r.id for r in due]), outbox.c.published_at.is_(None))
                    .values(published_at=func.now())
                )
        except Exception as exc:
            log.warning("outbox_eager_publish_failed", error=type(exc).__name__, rows=len(due))

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
            await self._send(rows)
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]))
                .values(published_at=func.now())
            )
        log.info("outbox_relayed", rows=len(rows))
        return len(rows)

    async def relay_forever(self, interval: float, grace_seconds: float) -> None:
        while True:
            try:
                while await self.relay_once(grace_seconds) == RELAY_BATCH:
                    pass
            except Exception as exc:
                log.warning("outbox_relay_failed", error=type(exc).__name__)
            await asyncio.sleep(interval)
