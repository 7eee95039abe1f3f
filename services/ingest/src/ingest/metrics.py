"""Ingest's Prometheus metrics, served on ``/metrics`` of the API port.

HTTP requests and latency come from prometheus-fastapi-instrumentator, labelled by route
template (``/v1/notifications/{notification_id}``), never by the raw path, so an id never
becomes a label. No label carries a phone number or a key.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import Counter, Gauge
from prometheus_fastapi_instrumentator import Instrumentator, metrics
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# Created once per process: the instrumentator registers them on the default registry.
_REQUESTS = metrics.requests()
_LATENCY = metrics.latency(
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

RATE_LIMITED = Counter("ingest_rate_limited", "Requests refused with 429 by the per-key limit.")
ACCEPTED = Counter(
    "ingest_notifications_accepted", "Notifications accepted (202), by priority.", ["priority"]
)
WEBHOOK_EVENTS = Counter(
    "ingest_webhook_events", "Events taken from Meta's webhooks, by type.", ["type"]
)
OUTBOX_BACKLOG = Gauge(
    "ingest_outbox_backlog", "Outbox rows due for publishing and not published yet."
)
OUTBOX_OLDEST = Gauge(
    "ingest_outbox_oldest_age_seconds", "How long the oldest due, unpublished outbox row waits."
)

_BACKLOG = text(
    "SELECT count(*) AS rows, "
    "coalesce(extract(epoch FROM now() - min(available_at)), 0)::float AS oldest "
    "FROM ingest.outbox WHERE published_at IS NULL AND available_at <= now()"
)


def instrument(app: FastAPI) -> None:
    """Request metrics on every route, and ``GET /metrics``."""
    instrumentator = Instrumentator(
        should_group_status_codes=False,
        should_group_untemplated=True,
        excluded_handlers=["/metrics"],
    )
    for metric in (_REQUESTS, _LATENCY):
        if metric is not None:
            instrumentator.add(metric)
    instrumentator.instrument(app).expose(app, include_in_schema=False)


async def sample_outbox(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        row = (await conn.execute(_BACKLOG)).one()
    OUTBOX_BACKLOG.set(row.rows)
    OUTBOX_OLDEST.set(row.oldest)
