"""Ingest's Prometheus metrics, served on ``/metrics`` of the API port (and the relay's).

Requests are counted by :class:`ingest.api.middleware.RequestGuard`, labelled by route
template (``/v1/notifications/{notification_id}``), never by the raw path, so an id never
becomes a label. No label carries a phone number or a key.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

REQUESTS = Counter(
    "http_requests",
    "API requests, by route template and exact status.",
    ["handler", "method", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "API latency, by route template.",
    ["handler", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
GROUP_SIZE = Histogram(
    "ingest_group_commit_requests",
    "Requests written by one group-commit transaction, by writer (notifications, webhooks).",
    ["writer"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
GROUP_SECONDS = Histogram(
    "ingest_group_commit_seconds",
    "Time of one group-commit transaction, from its first statement to the end of its commit.",
    ["writer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
RATE_LIMITED = Counter("ingest_rate_limited", "Requests refused with 429 by the per-key limit.")
ACCEPTED = Counter(
    "ingest_notifications_accepted", "Notifications accepted (202), by priority.", ["priority"]
)
TEMPLATE_CHECKS = Counter(
    "ingest_template_checks",
    "Template sends checked against the catalogue, by outcome: passed, refused, or skipped "
    "(the business account's catalogue was never synced or could not be read).",
    ["outcome"],
)
TEMPLATE_SYNCS = Counter(
    "ingest_template_syncs", "Template catalogue syncs from Meta, by outcome.", ["outcome"]
)
TEMPLATE_STATUS_IGNORED = Counter(
    "ingest_template_status_ignored",
    "Template status webhooks for a business account with no catalogue here (not one the "
    "settings name, or never synced): they change nothing and ask for no sync.",
)
for _outcome in ("passed", "refused", "skipped"):  # every series at 0 from the start
    TEMPLATE_CHECKS.labels(outcome=_outcome)
ACCOUNT_REPORTS_IGNORED = Counter(
    "ingest_account_reports_ignored",
    "Quality and account webhooks for a business account the settings do not name (changed "
    "nothing).",
)
SENDER_SYNCS = Counter(
    "ingest_sender_syncs",
    "Reads of a business account's sender numbers from Meta, by outcome.",
    ["outcome"],
)
for _outcome in ("synced", "failed"):
    TEMPLATE_SYNCS.labels(outcome=_outcome)
    SENDER_SYNCS.labels(outcome=_outcome)
WEBHOOK_EVENTS = Counter(
    "ingest_webhook_events", "Events taken from Meta's webhooks, by type.", ["type"]
)
WEBHOOK_UNTRANSLATED = Counter(
    "ingest_webhook_items_untranslated",
    "Statuses and messages of Meta's webhooks that became no event (kind: status, message, "
    "or body when a whole body could not be translated or stored); their bodies stay in "
    "ingest.webhook_inbox with processed_at unset.",
    ["kind"],
)
OUTBOX_PUBLISHED = Counter("ingest_outbox_published", "Outbox rows the relay published to SQS.")
OUTBOX_BACKLOG = Gauge(
    "ingest_outbox_backlog", "Outbox rows due for publishing and not published yet."
)
OUTBOX_OLDEST = Gauge(
    "ingest_outbox_oldest_age_seconds", "How long the oldest due, unpublished outbox row waits."
)

_BACKLOG = text(
    "SELECT count(*) AS rows, "
    "coalesce(extract(epoch FROM now() - min(available_at)), 0)::float AS oldest "
    "FROM ingest.outbox "
    "WHERE published_at IS NULL AND quarantined_at IS NULL AND available_at <= now()"
)


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""The HTTP methods a request is counted under; any other (a client may send any token)
is counted as ``other``, so no client-chosen string becomes a label value."""


def observe_request(handler: str, method: str, status: int, seconds: float) -> None:
    """Count one request and its latency (the label children are cached by the client).
    ``handler`` is the route's template (or ``none``), never the requested path."""
    code = str(status)
    method = method if method in METHODS else "other"
    REQUESTS.labels(handler, method, code).inc()
    LATENCY.labels(handler, method, code).observe(seconds)


def expose(app: FastAPI) -> None:
    """``GET /metrics`` in the Prometheus text format (not in the OpenAPI document)."""

    @app.get("/metrics", include_in_schema=False)
    async def scrape() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def sample_outbox(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        row = (await conn.execute(_BACKLOG)).one()
    OUTBOX_BACKLOG.set(row.rows)
    OUTBOX_OLDEST.set(row.oldest)
