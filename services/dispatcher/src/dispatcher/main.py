"""Dispatcher entrypoint: consume the dispatch queues, serve probes on the dispatcher port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from redis.asyncio import Redis

from dispatcher import metrics
from dispatcher.accepted_wamid import LedgerAcceptedWamids
from dispatcher.account_health import AccountHealth
from dispatcher.breaker import Breaker
from dispatcher.cloud_api import AiohttpCloudApi, CloudApi, HttpxCloudApi
from dispatcher.gate import Gate
from dispatcher.handler import DispatchHandler
from dispatcher.messaging_limit import MessagingLimits
from dispatcher.quarantine import DispatchQuarantine
from dispatcher.recipients import PostgresRecipientPolicy
from dispatcher.settings import DispatcherSettings
from dispatcher.templates import CatalogueStatuses, TemplatePolicy
from dispatcher.throttle import Throttle
from notif_core import telemetry
from notif_core.backoff import RetryPolicy
from notif_core.db import autocommit, make_engine, ping, upgrade
from notif_core.health import Heartbeat
from notif_core.ids import new_id
from notif_core.logging import get_logger
from notif_core.meta_codes import REACTIONS
from notif_core.outages import DATABASE, REDIS, Outages
from notif_core.runtime import Probes, run_command, tune_gc
from notif_core.sqs import Consumer, Publisher, QueueDirectory, QueueNames, sqs_client
from notif_core.sqs.metrics import QueueSampler
from notif_core.sqs.redrive import check_retry_budget

MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger(__name__)


def migrate(database_url: str) -> None:
    """Bring the ``dispatcher`` schema to the newest revision."""
    upgrade(MIGRATIONS, database_url, "dispatcher")


@contextlib.asynccontextmanager
async def cloud_api(settings: DispatcherSettings) -> AsyncIterator[CloudApi]:
    """The Cloud API client over the configured HTTP library, pooled to the concurrency."""
    options = {
        "base_url": settings.whatsapp_api_base_url,
        "version": settings.whatsapp_api_version,
        "access_token": settings.whatsapp_access_token.get_secret_value(),
    }
    if settings.http_client == "aiohttp":
        timeout = aiohttp.ClientTimeout(total=settings.whatsapp_timeout_seconds)
        connector = aiohttp.TCPConnector(limit=settings.worker_concurrency)
        async with aiohttp.ClientSession(
            timeout=timeout, connector=connector, trace_configs=telemetry.aiohttp_trace_configs()
        ) as session:
            yield AiohttpCloudApi(session, **options)
        return
    limits = httpx.Limits(max_connections=settings.worker_concurrency)
    timeout_x = httpx.Timeout(settings.whatsapp_timeout_seconds)
    async with telemetry.instrument_httpx(
        httpx.AsyncClient(limits=limits, timeout=timeout_x)
    ) as client:
        yield HttpxCloudApi(client, **options)


async def serve(settings: DispatcherSettings, stopping: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or until ``stopping`` is set, for in-process use)."""
    engine = make_engine(
        settings.database_url,
        pool_size=min(settings.worker_concurrency, 20),
        application_name="dispatcher",
    )
    redis = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)

    async def redis_answers() -> bool:
        return bool(await redis.ping())

    async with sqs_client(settings) as sqs, cloud_api(settings) as api:
        queues = QueueDirectory(sqs, QueueNames(settings.queue_prefix))
        lanes = [await queues.url("dispatch_high"), await queues.url("dispatch")]
        await check_retry_budget(sqs, lanes, settings.max_attempts, "MAX_ATTEMPTS")
        consumer = Consumer(
            sqs,
            lanes,
            drain_seconds=settings.drain_seconds,
            wait_seconds=settings.sqs_wait_seconds,
            outages=Outages({DATABASE: lambda: ping(engine), REDIS: redis_answers}),
            heartbeat=Heartbeat(),
            linger_seconds=settings.sqs_linger_seconds,
        )
        owner = f"{socket.gethostname()}:{os.getpid()}:{new_id().hex[-6:]}"
        statements = autocommit(engine)  # the checks and the gate are one statement each
        gate = Gate(statements, owner, settings.claim_lease_seconds)
        publisher = Publisher(sqs, linger=settings.sqs_linger_seconds)
        redis_prefix = f"{settings.queue_prefix}:dispatch"
        health = AccountHealth(statements, settings.portfolio_of)
        limits = (
            MessagingLimits(
                redis,
                settings.messaging_limit_window_seconds,
                settings.messaging_limit_marketing_share,
                prefix=redis_prefix,
            )
            if settings.messaging_limit_mode == "hold"
            else None
        )
        throttle = Throttle(
            redis, settings.throttle(), prefix=redis_prefix, reported=health.throughput
        )
        health.cap_of = throttle.cap
        await health.load()
        handler = DispatchHandler(
            throttle=throttle,
            health=health,
            limits=limits,
            breaker=Breaker(redis, settings.breaker(), prefix=redis_prefix),
            recipients=PostgresRecipientPolicy(statements),
            window_mode=settings.window_mode,
            window_certain_after=settings.window_certain_after_seconds,
            projection_wait=settings.projection_wait_seconds,
            gate=gate,
            accepted=LedgerAcceptedWamids(statements),
            takeover_grace=settings.takeover_grace_seconds,
            templates=TemplatePolicy(
                CatalogueStatuses(statements),
                settings.waba_of,
                settings.template_unavailable,
                settings.template_hold_seconds,
                settings.template_hold_max_hours * 3600,
            ),
            quarantine=DispatchQuarantine(
                engine,
                gate,
                publisher,
                await queues.url("events"),
            ),
            api=api,
            publisher=publisher,
            events_queue_url=await queues.url("events"),
            default_phone_number_id=settings.whatsapp_phone_number_id,
            retry=RetryPolicy(
                settings.retry_base_seconds, settings.retry_cap_seconds, settings.max_attempts
            ),
        )

        async def readiness() -> tuple[bool, dict[str, Any]]:
            ok = await ping(engine)
            clear, outages = consumer.outages.readiness()
            checks = {"database": {"connected": ok}, "in_flight": consumer.in_flight}
            return ok and clear, checks | outages

        sampler = QueueSampler(
            sqs,
            await queues.with_dlqs("dispatch_high", "dispatch"),
            settings.queue_metrics_interval,
        )

        metrics.initialise(
            [settings.whatsapp_phone_number_id, *(s for s, _ in settings.throttle().sender_rates)],
            sorted(str(code) for code in REACTIONS),
        )
        async with Probes(
            "whatsapp-notif dispatcher",
            readiness,
            settings.host,
            settings.port,
            stop=(consumer.stop, sampler.stop),
            heartbeat=consumer.heartbeat,
            stopping=stopping,
            stop_fields=lambda: {"in_flight": consumer.in_flight},
        ):
            sampling = asyncio.create_task(sampler.run())
            refreshing = asyncio.create_task(health.run())
            log.info("dispatcher_started", concurrency=settings.worker_concurrency)
            tune_gc()
            await consumer.run_each(handler, concurrency=settings.worker_concurrency)
            await sampling
            refreshing.cancel()
            await asyncio.gather(refreshing, return_exceptions=True)
    await redis.aclose()
    await engine.dispose()
    log.info("dispatcher_stopped")


def run() -> None:
    """``notif-dispatcher`` serves; ``notif-dispatcher migrate [REVISION]`` upgrades its schema and
    ``notif-dispatcher downgrade REVISION`` takes it back, then exit (the migration hook runs
    ``migrate``)."""
    run_command("dispatcher", DispatcherSettings, serve, migrations=MIGRATIONS)
