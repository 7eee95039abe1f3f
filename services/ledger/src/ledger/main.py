"""Ledger entrypoints: ``notif-ledger`` projects the events queue; ``notif-ledger callbacks``
delivers status callbacks. Two processes, so that no customer's receiver can slow or crash
the projection. Each serves its own probes and metrics."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx

from ledger import callback_http, retention
from ledger.callbacks import CallbackDeliverer
from ledger.consumer import EventsHandler
from ledger.settings import LedgerSettings
from notif_core import egress, telemetry
from notif_core.db import make_engine, ping, upgrade
from notif_core.health import Heartbeat
from notif_core.logging import get_logger
from notif_core.outages import DATABASE, Outages
from notif_core.runtime import Probes, run_command, tune_gc
from notif_core.sqs import Consumer, QueueDirectory, QueueNames, sqs_client
from notif_core.sqs.metrics import QueueSampler
from notif_core.sqs.redrive import check_retry_budget

MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger(__name__)


def migrate(database_url: str) -> None:
    """Bring the ``ledger`` schema to the newest revision."""
    upgrade(MIGRATIONS, database_url, "ledger")


async def serve(settings: LedgerSettings, stopping: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or until ``stopping`` is set, for in-process use)."""
    engine = make_engine(settings.database_url, pool_size=4, application_name="ledger")
    outages = Outages({DATABASE: lambda: ping(engine)})
    heartbeat = Heartbeat()

    async def readiness() -> tuple[bool, dict[str, Any]]:
        ok = await ping(engine)
        clear, down = outages.readiness()
        return ok and clear, {"database": {"connected": ok}} | down

    async with sqs_client(settings) as sqs:
        queues = QueueDirectory(sqs, QueueNames(settings.queue_prefix))
        events = await queues.url("events")
        # Each event needs one receive to be appended; the ledger keeps no retry budget of
        # its own, but a redrive at one receive would park every passing failure.
        await check_retry_budget(sqs, [events], 1, "the ledger's one receive per event")
        consumer = Consumer(
            sqs,
            [events],
            drain_seconds=settings.drain_seconds,
            wait_seconds=settings.sqs_wait_seconds,
            outages=outages,
            heartbeat=heartbeat,
            linger_seconds=settings.sqs_linger_seconds,
        )

        sampler = QueueSampler(
            sqs, await queues.with_dlqs("events"), settings.queue_metrics_interval
        )
        async with Probes(
            "whatsapp-notif ledger",
            readiness,
            settings.host,
            settings.port,
            stop=(consumer.stop, sampler.stop),
            heartbeat=heartbeat,
            stopping=stopping,
        ):
            sampling = asyncio.create_task(sampler.run())
            purging = asyncio.create_task(
                retention.housekeeping(engine, settings.notification_retention_days)
            )
            log.info("ledger_started", port=settings.port)
            tune_gc()
            await consumer.run_batches(
                EventsHandler(engine, settings.keywords()), batch_size=settings.batch_size
            )
            purging.cancel()  # a pass cut short rolls back its batch; the next one redoes it
            with contextlib.suppress(asyncio.CancelledError):
                await purging
            await sampling
    await engine.dispose()
    log.info("ledger_stopped")


async def serve_callbacks(settings: LedgerSettings, stopping: asyncio.Event | None = None) -> None:
    """Deliver status callbacks until SIGTERM/SIGINT (or ``stopping``); attempts in flight
    end within their deadline before the process exits."""
    config = settings.callbacks()
    engine = make_engine(settings.database_url, pool_size=4, application_name="callbacks")

    async def readiness() -> tuple[bool, dict[str, Any]]:
        ok = await ping(engine)
        return ok, {"database": {"connected": ok}}

    limits = httpx.Limits(max_connections=config.concurrency, max_keepalive_connections=20)
    http_client = telemetry.instrument_httpx(
        callback_http.client(egress.Policy.of(settings), limits=limits)
    )
    deliverer = CallbackDeliverer(engine, http_client, config)
    try:
        async with Probes(
            "whatsapp-notif callbacks",
            readiness,
            settings.host,
            settings.callbacks_port,
            stop=(deliverer.stop,),
            stopping=stopping,
        ):
            log.info("callbacks_started", port=settings.callbacks_port)
            tune_gc()
            try:
                await deliverer.run()
            finally:
                await http_client.aclose()
    finally:
        await engine.dispose()
    log.info("callbacks_stopped")


def run() -> None:
    """``notif-ledger`` projects; ``notif-ledger callbacks`` delivers status callbacks;
    ``notif-ledger migrate [REVISION]`` upgrades its schema and ``notif-ledger downgrade
    REVISION`` takes it back, then exit (the migration hook runs ``migrate``)."""
    run_command(
        "ledger",
        LedgerSettings,
        serve,
        migrations=MIGRATIONS,
        subcommands={"callbacks": serve_callbacks},
    )
