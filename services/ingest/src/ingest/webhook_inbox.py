"""Meta's webhooks: stored durably before the 200, turned into events afterwards.

Answering fast matters (Meta retries slow endpoints, and the answer must not wait for SQS),
and so does losing nothing: the raw bytes are committed first, then parsed and published
in the background. A relay picks up whatever a crash or an SQS outage left unprocessed.
Duplicates are harmless: event ids derive from (wamid, status).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.meta_webhooks import events_from_payload
from ingest.tables import webhook_inbox
from notif_core.logging import get_logger
from notif_core.sqs import Publisher, QueueDirectory

log = get_logger(__name__)
RELAY_BATCH = 50


class WebhookInbox:
    def __init__(self, engine: AsyncEngine, publisher: Publisher, queues: QueueDirectory) -> None:
        self._engine = engine
        self._publisher = publisher
        self._queues = queues

    async def store(self, raw: bytes) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                webhook_inbox.insert().values(body=raw).returning(webhook_inbox.c.id)
            )
            return int(result.scalar_one())

    async def _publish(self, bodies: Sequence[bytes]) -> int:
        events = [e for raw in bodies for e in events_from_payload(json.loads(raw))]
        if events:
            await self._publisher.publish(await self._queues.url("events"), events)
        return len(events)

    async def process_now(self, inbox_id: int, raw: bytes) -> None:
        """The eager path after the 200; a failure is left to the relay."""
        try:
            await self._publish([raw])
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(webhook_inbox)
                    .where(webhook_inbox.c.id == inbox_id, webhook_inbox.c.processed_at.is_(None))
                    .values(processed_at=func.now())
                )
        except Exception as exc:
            log.warning("webhook_processing_deferred", error=type(exc).__name__)

    async def relay_once(self, grace_seconds: float) -> int:
        async with self._engine.begin() as conn:
            rows = list(
                await conn.execute(
                    select(webhook_inbox.c.id, webhook_inbox.c.body)
                    .where(
                        webhook_inbox.c.processed_at.is_(None),
                        webhook_inbox.c.received_at
                        < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, grace_seconds),
                    )
                    .order_by(webhook_inbox.c.id)
                    .limit(RELAY_BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            if not rows:
                return 0
            await self._publish([r.body for r in rows])
            await conn.execute(
                update(webhook_inbox)
                .where(webhook_inbox.c.id.in_([r.id for r in rows]))
                .values(processed_at=func.now())
            )
        log.info("webhooks_relayed", rows=len(rows))
        return len(rows)
