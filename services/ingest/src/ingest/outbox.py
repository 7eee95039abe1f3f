"""Transactional outbox: rows written with the notification, published after commit.

The request path publishes its own rows right after commit. The relay loop republishes any
row still unpublished after a grace period (process crash, SQS outage), so an accepted
notification always reaches its queues. A row can be published twice (eager path and relay
racing, or a crash after send and before marking); every consumer is idempotent on
``event_id``, so that costs a duplicate message, never a duplicate send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest.tables import outbox
from notif_core.events import Event, parse_event
from notif_core.logging import get_logger
from notif_core.sqs import Publisher, QueueUrls

log = get_logger(__name__)

QueueKey = Literal["dispatch", "dispatch_high", "events"]
RELAY_BATCH = 100


@dataclass(frozen=True)
class OutboxRow:
    id: int
    queue: QueueKey
    event: Event


async def add(conn: AsyncConnection, queue: QueueKey, event: Event) -> int:
    """Write one event for ``queue`` inside the caller's transaction; returns the row id."""
    result = await conn.execute(
        outbox.insert()
        .values(queue=queue, event_id=event.event_id, body=event.model_dump_json(by_alias=True))
        .returning(outbox.c.id)
    )
    return int(result.scalar_one())


class OutboxPublisher:
    """Publishes outbox rows and marks them published."""

    def __init__(self, engine: AsyncEngine, publisher: Publisher, urls: QueueUrls) -> None:
        self._engine = engine
        self._publisher = publisher
        self._urls = urls

    async def _send(self, rows: Sequence[OutboxRow]) -> None:
        by_queue: dict[QueueKey, list[OutboxRow]] = {}
        for row in rows:
            by_queue.setdefault(row.queue, []).append(row)
        for queue, queued in by_queue.items():
            await self._publisher.publish(getattr(self._urls, queue), [r.event for r in queued])

    async def publish_rows(self, rows: Sequence[OutboxRow]) -> None:
        await self._send(rows)
        async with self._engine.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]), outbox.c.published_at.is_(None))
                .values(published_at=func.now())
            )

    async def publish_after_commit(self, rows: Sequence[OutboxRow]) -> None:
        """The eager path; a failure here is left to the relay."""
        try:
            await self.publish_rows(rows)
        except Exception as exc:
            log.warning("outbox_eager_publish_failed", error=type(exc).__name__, rows=len(rows))

    async def relay_once(self, grace_seconds: float) -> int:
        """Publish up to one batch of rows older than the grace period; returns how many."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                select(outbox.c.id, outbox.c.queue, outbox.c.body)
                .where(
                    outbox.c.published_at.is_(None),
                    outbox.c.created_at
                    < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, grace_seconds),
                )
                .order_by(outbox.c.id)
                .limit(RELAY_BATCH)
                .with_for_update(skip_locked=True)
            )
            rows = [OutboxRow(r.id, r.queue, parse_event(r.body)) for r in result]
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
