"""Ingest entrypoint: the FastAPI app, its lifespan, and ``notif-ingest`` to run it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from ingest.api import health, notifications, webhooks
from ingest.deps import AppState
from ingest.errors import install_error_handlers
from ingest.outbox import OutboxPublisher
from ingest.settings import IngestSettings
from notif_core import __version__
from notif_core.db import make_engine, upgrade
from notif_core.logging import configure_logging
from notif_core.sqs import Publisher, QueueNames, QueueUrls, sqs_client

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url, pool_size=settings.db_pool_size, application_name="ingest"
        )
        redis = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        async with sqs_client(settings) as sqs:
            urls = await QueueUrls.resolve(sqs, QueueNames(settings.queue_prefix))
            publisher = Publisher(sqs)
            relay = OutboxPublisher(engine, publisher, urls)
            app.state.notif = AppState(
                settings=settings,
                engine=engine,
                sqs=sqs,
                publisher=publisher,
                queue_urls=urls,
                outbox=relay,
                redis=redis,
            )
            relay_task = asyncio.create_task(
                relay.relay_forever(settings.outbox_relay_interval, settings.outbox_relay_grace)
            )
            try:
                yield
            finally:
                relay_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay_task
        await redis.aclose()
        await engine.dispose()

    app = FastAPI(
        title="whatsapp-notif ingest",
        version=__version__,
        lifespan=lifespan,
        description="Send WhatsApp notifications; read their status and history.",
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(notifications.router)
    app.include_router(webhooks.router)
    return app


def migrate(database_url: str) -> None:
    """Bring the ``ingest`` schema to the newest revision."""
    upgrade(MIGRATIONS, database_url, "ingest")


def run() -> None:
    settings = IngestSettings()
    configure_logging("ingest", settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
