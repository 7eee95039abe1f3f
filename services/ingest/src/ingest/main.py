"""Ingest entrypoint: the FastAPI app, its lifespan, and ``notif-ingest`` to run it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from ingest import meta_graph, metrics
from ingest.account.keys import KeyCache, SenderRefused, bootstrap_keys, bootstrap_problem
from ingest.api import (
    account,
    health,
    inbound,
    media,
    notifications,
    recipients,
    templates,
    webhooks,
)
from ingest.api.deps import AppState
from ingest.api.errors import install_error_handlers
from ingest.api.middleware import RequestGuard
from ingest.media import limits as media_limits
from ingest.notifications import accept
from ingest.notifications.group_commit import GroupCommitter
from ingest.settings import IngestSettings
from ingest.templates.catalogue import Catalogue
from ingest.webhooks.webhook_inbox import WebhookInbox
from notif_core import __version__, telemetry
from notif_core.db import make_engine, upgrade
from notif_core.logging import get_logger
from notif_core.ratelimit import LeasedLimiter, RateLimiter
from notif_core.runtime import run_command, tune_gc

MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger(__name__)
KEEP_ALIVE_SECONDS = 75
"""Idle keep-alive connections stay open longer than the proxies in front keep theirs
(an AWS load balancer 60 s, ingress-nginx 60 s), and longer than a client's pause between
bursts: otherwise a proxy or client can send a request down a connection ingest is just
closing, and it fails without an answer (a 502, or a read error)."""

DESCRIPTION = """Send WhatsApp notifications through Meta's Cloud API and follow each one to
`read` or to a terminal failure with Meta's own error code.

Authenticate with `X-API-Key`. Every error answers
`{"error": {"code", "message", "field"?, "fields"?}}` with a stable `code`; see `docs/api.md`.
"""


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url, pool_size=settings.db_pool_size, application_name="ingest"
        )
        if settings.api_keys is not None:
            try:
                async with engine.begin() as conn:
                    added = await bootstrap_keys(conn, settings.api_keys.get_secret_value())
            except SenderRefused as exc:  # a number another tenant holds: only the DB knows
                log.error("refused_to_start", reason=str(exc))
                print(f"refusing to start: API_KEYS: {exc}", file=sys.stderr, flush=True)
                os._exit(1)  # before serving; a lifespan error would print a traceback
            log.info("api_keys_bootstrapped", added=added)
        redis = Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
        state = AppState(
            settings=settings,
            engine=engine,
            committer=GroupCommitter(engine),
            inbox=WebhookInbox(
                engine, accept.fallback_sender(settings), frozenset(settings.wabas())
            ),
            catalogue=Catalogue(engine),
            redis=redis,
            keys=KeyCache(engine, settings.api_key_cache_seconds),
            limiter=LeasedLimiter(RateLimiter(redis, prefix="ingest")),
            meta=httpx.AsyncClient(timeout=meta_graph.TIMEOUT_SECONDS),
        )
        app.state.notif = state
        state.catalogue.warm()
        tune_gc()
        try:
            yield
        finally:
            await state.committer.stop()
            await state.inbox.stop()
            await state.catalogue.stop()
            await state.meta.aclose()
        await redis.aclose()
        await engine.dispose()

    app = FastAPI(
        title="whatsapp-notif",
        version=__version__,
        lifespan=lifespan,
        description=DESCRIPTION,
        # Tracing comes from the OpenTelemetry instrumentation below, when configured.
        # FastAPI's own telemetry would look up the global providers (environment reads)
        # on every request even when nothing is configured: 5 % of the CPU under load.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    metrics.expose(app)
    if telemetry.tracing_active():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="/metrics,/health")
    app.add_middleware(
        RequestGuard,
        max_body=settings.max_body_bytes,
        large_paths={
            "/webhooks/whatsapp": settings.max_webhook_body_bytes,
            "/v1/media": media_limits.MAX_FORM_BODY,
        },
        form_paths=frozenset({"/v1/media"}),
    )
    app.include_router(health.router)
    app.include_router(notifications.router)
    app.include_router(account.router)
    app.include_router(recipients.router)
    app.include_router(templates.router)
    app.include_router(inbound.router)
    app.include_router(media.router)
    app.include_router(webhooks.router)
    return app


def migrate(database_url: str) -> None:
    """Bring the ``ingest`` schema to the newest revision."""
    upgrade(MIGRATIONS, database_url, "ingest")


STARTUP_FAILURE = 3
"""Exit status of an API that never started serving, as uvicorn's own runner uses."""


async def serve(settings: IngestSettings) -> None:
    """Serve the API until SIGTERM/SIGINT, which uvicorn itself handles: it stops accepting,
    lets requests in flight finish (10 s at most), then hands the signal back."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    server = uvicorn.Server(config)
    await server.serve()
    if not server.started:  # the port was taken, or the lifespan failed
        raise SystemExit(STARTUP_FAILURE)


def run() -> None:
    """``notif-ingest`` serves; ``notif-ingest migrate [REVISION]`` upgrades its schema and
    ``notif-ingest downgrade REVISION`` takes it back, then exit (the migration hook runs
    ``migrate``). Its event loop is uvloop's, as uvicorn picks when uvloop is installed."""
    run_command(
        "ingest",
        IngestSettings,
        serve,
        migrations=MIGRATIONS,
        problems=_problems,
        event_loop="uvloop",
    )


def _problems(settings: IngestSettings) -> list[str | None]:
    """Ingest's own start-up refusal: a weak or malformed key in ``API_KEYS``."""
    api_keys = settings.api_keys.get_secret_value() if settings.api_keys else None
    return [bootstrap_problem(api_keys)]
