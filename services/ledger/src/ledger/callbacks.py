"""Signed status callbacks to customers: at least once, retried with backoff for up to a day.

The projection writes one ``ledger.callbacks`` row per status change in the same
transaction as the change itself, so a crash can neither lose a callback nor invent one.
The deliverer claims due rows with a lease (``FOR UPDATE SKIP LOCKED``, so ledger replicas
share the work), POSTs them outside any transaction, and records the outcome.

Signature: ``X-Notif-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``, one
``v1`` per active secret of the tenant, newest first, so a receiver that still holds the
previous secret keeps verifying during a rotation's overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.projection import Notification, StatusChange
from notif_core import telemetry
from notif_core.backoff import RetryPolicy
from notif_core.logging import get_logger

log = get_logger(__name__)

SIGNATURE_HEADER = "X-Notif-Signature"
EVENT_ID_HEADER = "X-Notif-Event-Id"
ERROR_TEXT_LIMIT = 500

BACKLOG_EVERY = 15.0
PENDING = Gauge(
    "ledger_callbacks_pending", "Status callbacks not delivered yet (retries included)."
)
OLDEST_PENDING = Gauge(
    "ledger_callbacks_oldest_pending_age_seconds", "Age of the oldest undelivered callback."
)
DELIVERIES = Counter(
    "ledger_callback_deliveries",
    "Status callback attempts by result: delivered, retry (will try again), failed (gave up).",
    ["result"],
)
for _result in ("delivered", "retry", "failed"):
    DELIVERIES.labels(result=_result)


def callback_row(change: StatusChange, state: Notification) -> dict[str, Any] | None:
    """The ``ledger.callbacks`` row for a status change, or None without a callback URL."""
    if state.callback_url is None:
        return None
    event = change.event
    body = {
        "id": str(change.notification_id),
        "status": change.status,
        "previous_status": change.previous,
        "occurred_at": event.occurred_at.isoformat(),
        "error": state.last_error if change.status == "failed" else None,
        "metadata": state.metadata,
        "event_id": str(event.event_id),
    }
    return {
        "event_id": event.event_id,
        "notification_id": change.notification_id,
        "tenant_id": state.tenant_id,
        "url": state.callback_url,
        "body": body,
        "traceparent": event.traceparent,
    }


def signature(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """The ``X-Notif-Signature`` value for ``body`` signed at ``timestamp``."""
    signed = str(timestamp).encode() + b"." + body
    parts = [f"t={timestamp}"]
    parts += ["v1=" + hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets]
    return ",".join(parts)


@dataclass(frozen=True)
class DeliveryConfig:
    retry: RetryPolicy
    max_age_seconds: float = 86_400.0
    """Give up on a callback this long after its status change."""
    timeout_seconds: float = 10.0
    batch: int = 50
    idle_seconds: float = 0.5


@dataclass(frozen=True)
class _Due:
    id: int
    tenant_id: UUID | None
    url: str
    body: dict[str, Any]
    attempts: int
    created_at: datetime
    traceparent: str | None


_CLAIM = text(
    """
    UPDATE ledger.callbacks c
    SET attempts = c.attempts + 1, next_attempt_at = now() + make_interval(secs => :lease)
    FROM (
        SELECT id FROM ledger.callbacks
        WHERE state = 'pending' AND next_attempt_at <= now()
        ORDER BY next_attempt_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ) due
    WHERE c.id = due.id
    RETURNING c.id, c.tenant_id, c.url, c.body, c.attempts, c.created_at, c.traceparent
    """
)
_SECRETS = text(
    """
    SELECT tenant_id, secret FROM ingest.callback_secrets
    WHERE tenant_id = ANY(:tenants) AND (expires_at IS NULL OR expires_at > now())
    ORDER BY created_at DESC
    """
)
_BACKLOG = text(
    "SELECT count(*) AS pending, "
    "extract(epoch FROM now() - min(created_at))::float AS oldest "
    "FROM ledger.callbacks WHERE state = 'pending'"
)
_DELIVERED = text(
    "UPDATE ledger.callbacks SET state = 'delivered', delivered_at = now(), "
    "last_status_code = :code, last_error = NULL WHERE id = :id"
)
_FAILED_ATTEMPT = text(
    "UPDATE ledger.callbacks SET state = :state, next_attempt_at = :next, "
    "last_status_code = :code, last_error = :error WHERE id = :id"
)


class CallbackDeliverer:
    """Delivers due callbacks until stopped."""

    def __init__(
        self, engine: AsyncEngine, http: httpx.AsyncClient, config: DeliveryConfig
    ) -> None:
        self._engine = engine
        self._http = http
        self._config = config
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        sampled = 0.0
        while not self._stopping.is_set():
            if time.monotonic() - sampled > BACKLOG_EVERY:
                sampled = time.monotonic()
                with contextlib.suppress(Exception):
                    await self.sample_backlog()
            try:
                delivered = await self.deliver_due()
            except Exception:
                log.exception("callback_round_failed")
                delivered = 0
            if delivered == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._config.idle_seconds)

    async def sample_backlog(self) -> None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(_BACKLOG)).one()
        PENDING.set(row.pending)
        OLDEST_PENDING.set(row.oldest or 0.0)

    async def deliver_due(self) -> int:
        """One round: claim up to a batch of due callbacks and try each; returns how many."""
        cfg = self._config
        async with self._engine.begin() as conn:
            rows = list(
                await conn.execute(_CLAIM, {"lease": cfg.timeout_seconds + 5, "limit": cfg.batch})
            )
            tenants = list({r.tenant_id for r in rows if r.tenant_id is not None})
            secrets: dict[UUID, list[str]] = {}
            if tenants:
                for s in await conn.execute(_SECRETS, {"tenants": tenants}):
                    secrets.setdefault(s.tenant_id, []).append(s.secret)
        due = [
            _Due(r.id, r.tenant_id, r.url, r.body, r.attempts, r.created_at, r.traceparent)
            for r in rows
        ]
        results = await asyncio.gather(
            *(self._post(d, secrets.get(d.tenant_id, []) if d.tenant_id else []) for d in due)
        )
        async with self._engine.begin() as conn:
            for d, (code, error) in zip(due, results, strict=True):
                if error is None:
                    DELIVERIES.labels(result="delivered").inc()
                    await conn.execute(_DELIVERED, {"id": d.id, "code": code})
                    continue
                next_at = datetime.now(UTC) + timedelta(seconds=cfg.retry.delay(d.attempts))
                gave_up = next_at > d.created_at + timedelta(seconds=cfg.max_age_seconds)
                DELIVERIES.labels(result="failed" if gave_up else "retry").inc()
                await conn.execute(
                    _FAILED_ATTEMPT,
                    {
                        "id": d.id,
                        "state": "failed" if gave_up else "pending",
                        "next": next_at,
                        "code": code,
                        "error": error[:ERROR_TEXT_LIMIT],
                    },
                )
                log.info(
                    "callback_failed" if gave_up else "callback_retry",
                    callback_id=d.id,
                    attempts=d.attempts,
                    status_code=code,
                )
        return len(due)

    async def _post(self, due: _Due, secrets: list[str]) -> tuple[int | None, str | None]:
        """(HTTP status, None) when delivered, else (status or None, what went wrong)."""
        if not secrets:
            return None, "the tenant has no callback signing secret"
        body = json.dumps(due.body, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(secrets, int(time.time()), body),
            EVENT_ID_HEADER: str(due.body.get("event_id", "")),
            "User-Agent": "whatsapp-notif-callbacks",
        }
        try:
            with telemetry.continued("callback deliver", due.traceparent):
                response = await self._http.post(
                    due.url, content=body, headers=headers, timeout=self._config.timeout_seconds
                )
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"
