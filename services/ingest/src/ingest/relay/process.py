"""``notif-relay``: the outbox relay process, the ingest schema's housekeeping, and the
sync of the template catalogues (:mod:`ingest.templates.sync`).

It publishes what the API commits, woken by ``NOTIFY ingest_outbox`` at each commit and by
a timer for scheduled rows and missed wake-ups; it samples the outbox metrics and purges
what has expired (:mod:`ingest.relay.retention`). Replicas share the work through ``SKIP LOCKED``.
Kept out of the API process so that requests never wait for, or share a core with, SQS calls.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import psycopg
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest import meta_reads, metrics
from ingest.inbound import owners
from ingest.notifications import idempotency
from ingest.relay import retention
from ingest.relay.outbox import CHANNEL, RELAY_BATCH, OutboxRelay
from ingest.senders import sync as senders_sync
from ingest.settings import IngestSettings
from ingest.tables import notifications, outbox, webhook_inbox
from ingest.templates import sync as templates_sync
from ingest.webhooks import inbound_marks
from notif_core import retention as retention_metric
from notif_core.db import libpq_url, make_engine, ping
from notif_core.logging import get_logger
from notif_core.runtime import Probes, run_command, tune_gc
from notif_core.sqs import Publisher, QueueDirectory, QueueNames, sqs_client

log = get_logger(__name__)
PURGE_EVERY_SECONDS = 300
RECONNECT_SECONDS = 1.0


async def listen(database_url: str, wake: asyncio.Event) -> None:
    """Set ``wake`` on every commit that wrote outbox rows; reconnects after a failure.

    Each (re)connection also sets ``wake``: commits made while it was down were not heard.
    """
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                libpq_url(database_url), autocommit=True, connect_timeout=5
            ) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                wake.set()
                async for _ in conn.notifies():
                    wake.set()
        except (psycopg.Error, OSError) as exc:
            log.warning("outbox_listen_failed", error=type(exc).__name__)
        await asyncio.sleep(RECONNECT_SECONDS)


class RelayLoop:
    """Publish until nothing is due, then sleep until a commit or the timer wakes it.

    After a wake-up the loop lets commits gather for ``linger`` seconds (SQS_LINGER_SECONDS)
    before it claims: at a steady trickle each commit would otherwise cost a pass of its own
    (a claim, an SQS call per queue for one or two rows, an update), several times the CPU of
    a pass shared by a few commits."""

    def __init__(self, relay: OutboxRelay, interval: float, linger: float) -> None:
        self._relay = relay
        self._interval = interval
        self._linger = linger
        self.wake = asyncio.Event()
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True
        self.wake.set()

    async def run(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._linger)
            self.wake.clear()
            try:
                published = await self._relay.relay_once()
            except Exception as exc:  # SQS or PostgreSQL down: the rows wait, due, for later
                log.warning("relay_failed", error=type(exc).__name__)
                published = 0
            if published:
                metrics.OUTBOX_PUBLISHED.inc(published)
            if published == RELAY_BATCH:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self._interval)


async def purge_expired(engine: AsyncEngine, settings: IngestSettings) -> None:
    """Expired Idempotency-Keys, published outbox rows, processed webhook bodies, inbound
    marks past any window, and inbound messages and notifications past their retention."""
    async with engine.begin() as conn:
        keys = await idempotency.purge(conn, settings.idempotency_ttl_hours)
    retention_metric.record("ingest.idempotency_keys", keys)
    published = await retention.purge(
        engine,
        outbox,
        outbox.c.created_at,
        outbox.c.published_at,
        settings.outbox_retention_hours,
    )
    bodies = await retention.purge(
        engine,
        webhook_inbox,
        webhook_inbox.c.received_at,
        webhook_inbox.c.processed_at,
        settings.webhook_inbox_retention_hours,
    )
    marks = await inbound_marks.purge(engine)
    inbound = await owners.purge(engine, settings.inbound_retention_days)
    retention_metric.record("ingest.inbound", inbound)
    accepted = 0
    if settings.notification_retention_days > 0:
        accepted = await retention.purge(
            engine,
            notifications,
            notifications.c.created_at,
            func.greatest(notifications.c.created_at, notifications.c.send_at),
            settings.notification_retention_days * 24,
            start=retention.NIL,
        )
    log.info(
        "purged",
        idempotency_keys=keys,
        outbox_rows=published,
        webhook_bodies=bodies,
        inbound_marks=marks,
        inbound_messages=inbound,
        notifications=accepted,
    )


async def housekeeping(engine: AsyncEngine, settings: IngestSettings) -> None:
    """Outbox backlog metrics every interval; expired rows every five minutes."""
    loop = asyncio.get_running_loop()
    last_purge = -float("inf")
    while True:
        try:
            await metrics.sample_outbox(engine)
            if loop.time() - last_purge > PURGE_EVERY_SECONDS:
                await purge_expired(engine, settings)
                last_purge = loop.time()
        except Exception as exc:
            log.warning("housekeeping_failed", error=type(exc).__name__)
        await asyncio.sleep(settings.queue_metrics_interval)


async def serve(settings: IngestSettings, stopping: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or until ``stopping`` is set, for in-process use)."""
    engine = make_engine(settings.database_url, pool_size=2, application_name="relay")
    async with sqs_client(settings) as sqs:
        queues = QueueDirectory(sqs, QueueNames(settings.queue_prefix))

        async def readiness() -> tuple[bool, dict[str, Any]]:
            db_ok = await ping(engine)
            try:  # a call each time: the queue URL alone is cached after the first look-up
                url = await asyncio.wait_for(queues.url("dispatch"), 2)
                await asyncio.wait_for(
                    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]), 2
                )
                queue_ok = True
            except Exception:
                queue_ok = False
            return db_ok, {"database": {"connected": db_ok}, "queue": {"connected": queue_ok}}

        relay = OutboxRelay(engine, Publisher(sqs), queues)
        loop = RelayLoop(relay, settings.outbox_relay_interval, settings.sqs_linger_seconds)
        async with Probes(
            "whatsapp-notif relay",
            readiness,
            settings.host,
            settings.relay_port,
            stop=(loop.stop,),
            stopping=stopping,
        ):
            background = [
                asyncio.create_task(listen(settings.database_url, loop.wake)),
                asyncio.create_task(housekeeping(engine, settings)),
                asyncio.create_task(meta_reads.keep_read(engine, settings, templates_sync.SOURCE)),
                asyncio.create_task(meta_reads.keep_read(engine, settings, senders_sync.SOURCE)),
            ]
            tune_gc()
            log.info("relay_started", port=settings.relay_port)
            await loop.run()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
    await engine.dispose()
    log.info("relay_stopped")


def run() -> None:
    """``notif-relay`` publishes the outbox until SIGTERM/SIGINT; ingest's schema is
    migrated by ``notif-ingest migrate``."""
    run_command("relay", IngestSettings, serve, event_loop="uvloop")
