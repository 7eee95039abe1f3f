"""Signed callbacks to customers, of status changes and of their customers' inbound
messages: at least once, retried with backoff for up to a day.

The projection writes one ``ledger.callbacks`` row per status change in the same
transaction as the change itself, so a crash can neither lose a callback nor invent one.
The deliverer, a process of its own (``notif-ledger callbacks``) so that no receiver can slow
or crash the projection, claims due rows with a lease (``FOR UPDATE SKIP LOCKED``, so its
replicas share the work), POSTs each in a task of its own outside any transaction, bounded
overall, per receiver and per tenant and under a total deadline, and records the outcome as
a class. The per-tenant share keeps one tenant's hanging receivers (on as many hosts and
ports as it likes) from holding every slot while other tenants' callbacks wait.
A row that can never be sent is quarantined (state ``quarantined``, its reason class in
``last_error``) for an operator to retry or drop.

Where a callback may go is judged again when it is sent, by the client the process is given
(:func:`ledger.callback_http.client` with the deployment's ``CALLBACK_ALLOW_PRIVATE``
policy): a receiver whose name now resolves to a loopback, private or otherwise refused
address fails the attempt as ``destination_not_allowed``, and a URL refused on its face is
quarantined with that class.

Signature: ``X-Notif-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``, one
``v1`` per active secret of the tenant, newest first, so a receiver that still holds the
previous secret keeps verifying during a rotation's overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from prometheus_client import Counter as MetricCounter
from prometheus_client import Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import callback_http
from ledger.callback_http import ERROR_CLASSES, Outcome, UnsendableClass, UnsendableError
from ledger.ingest_contract import CALLBACK_SECRETS
from ledger.projection import Notification, StatusChange
from notif_core import quarantine, telemetry
from notif_core.backoff import RetryPolicy
from notif_core.events import MessageInboundReceived
from notif_core.logging import get_logger
from notif_core.vocabulary import CallbackState, NotificationStatus

log = get_logger(__name__)

SIGNATURE_HEADER = "X-Notif-Signature"
EVENT_ID_HEADER = "X-Notif-Event-Id"

BACKLOG_EVERY = 15.0
PENDING = Gauge(
    "ledger_callbacks_pending", "Status callbacks not delivered yet (retries included)."
)
OLDEST_PENDING = Gauge(
    "ledger_callbacks_oldest_pending_age_seconds", "Age of the oldest undelivered callback."
)
IN_FLIGHT = Gauge("ledger_callbacks_in_flight", "Status callback attempts in flight.")
DELIVERIES = MetricCounter(
    "ledger_callback_deliveries",
    "Status callback attempts by result: delivered, retry (will try again), failed (gave up), "
    "quarantined (can never be sent).",
    ["result"],
)
for _result in ("delivered", "retry", "failed", "quarantined"):
    DELIVERIES.labels(result=_result)
ERRORS = MetricCounter(
    "ledger_callback_errors", "Failed status callback attempts by class.", ["error"]
)
for _error in ERROR_CLASSES:
    ERRORS.labels(error=_error)


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
        "error": state.last_error if change.status == NotificationStatus.FAILED else None,
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


INBOUND_TYPE = "message.received"


def inbound_callback_row(
    event: MessageInboundReceived, in_reply_to: UUID | None
) -> dict[str, Any] | None:
    """The ``ledger.callbacks`` row that brings an inbound message to the tenant owning its
    number (docs/api.md, "Inbound messages"), or None when it has no owner or no inbound
    callback URL. ``in_reply_to``: the tenant's notification whose wamid it answers."""
    p = event.payload
    if event.tenant_id is None or p.callback_url is None:
        return None
    body = {
        "type": INBOUND_TYPE,
        "id": str(event.event_id),
        "phone_number_id": p.phone_number_id,
        "from": p.from_,
        "user_id": p.user_id,
        "profile_name": p.profile_name,
        "wamid": p.wamid,
        "received_at": p.received_at.isoformat(),
        "kind": p.type,
        p.type: p.content or {},
        "context_wamid": p.context_wamid,
        "in_reply_to": str(in_reply_to) if in_reply_to is not None else None,
        "event_id": str(event.event_id),
    }
    return {
        "event_id": event.event_id,
        "notification_id": None,
        "tenant_id": event.tenant_id,
        "url": p.callback_url,
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
    """Total deadline of one attempt, from connecting to the last byte of the answer."""
    concurrency: int = 50
    """Attempts in flight in one process."""
    per_host: int = 4
    """Attempts in flight to one receiver (its URL's host and port) in one process."""
    per_tenant: int = 10
    """Attempts in flight for one tenant in one process (never all of ``concurrency``)."""
    max_response_bytes: int = 4096
    """Bytes of an answer read at most (then thrown away); more fails as ``too_large``."""
    idle_seconds: float = 0.5
    lease_margin_seconds: float = 15.0
    """A claimed row's lease is the deadline plus this, so it outlives its attempt."""
    scan: int = 500
    """Due rows looked at per claim, so one receiver's backlog cannot hide the others'."""

    def __post_init__(self) -> None:
        if self.lease_margin_seconds <= 0:
            raise ValueError("a claim's lease must outlive the attempt's deadline")
        if self.per_tenant < 1 or self.per_host < 1 or self.concurrency < 1:
            raise ValueError("every limit on attempts in flight must allow at least one")

    @property
    def tenant_share(self) -> int:
        """Slots one tenant may hold: ``per_tenant``, but always one fewer than all of them
        (when there is more than one), so another tenant can always be served."""
        return min(self.per_tenant, max(1, self.concurrency - 1))

    @property
    def reserve(self) -> int:
        """Slots only a tenant with nothing in flight may take (a tenth of them): however
        many tenants' receivers hang, another tenant's first callback finds a slot."""
        return max(1, self.concurrency // 10) if self.concurrency > 1 else 0

    @property
    def lease_seconds(self) -> float:
        return self.timeout_seconds + self.lease_margin_seconds


@dataclass(frozen=True)
class _Due:
    id: int
    tenant_id: UUID | None
    url: str
    body: dict[str, Any]
    attempts: int
    created_at: datetime
    traceparent: str | None


_AUTHORITY_SQL = (
    "lower(regexp_replace(coalesce(substring(url from '://([^/?#]*)'), ''), '^.*@', ''))"
)
_NO_TENANT = UUID(int=0)
"""The share key of rows without a tenant: they share one allowance between them."""
_AUTHORITY = re.compile(r"://([^/?#]*)")
_USERINFO = re.compile(r"^.*@")


def receiver(url: str) -> str:
    """The receiver a URL names, its host and port, as :data:`_AUTHORITY_SQL` computes it."""
    found = _AUTHORITY.search(url)
    return _USERINFO.sub("", found.group(1) if found else "").lower()


def receiver_of(tenant: UUID, url: str) -> str:
    """The key of the per-receiver limit: the tenant and the receiver, so that a receiver
    several tenants share (a hosted webhook platform) is slow for one of them only."""
    return f"{tenant}|{receiver(url)}"


_CANDIDATES = text(
    f"""
    SELECT id, url, share, rank FROM (
        SELECT id, url, coalesce(tenant_id, :no_tenant) AS share, next_attempt_at,
               row_number() OVER (
                   PARTITION BY coalesce(tenant_id, :no_tenant) ORDER BY next_attempt_at
               ) AS rank
        FROM ledger.callbacks
        WHERE state = 'pending' AND next_attempt_at <= now()
          AND NOT (coalesce(tenant_id, :no_tenant)::text || '|' || {_AUTHORITY_SQL}
                   = ANY(:full))
          AND NOT (coalesce(tenant_id, :no_tenant) = ANY(CAST(:full_tenants AS uuid[])))
    ) due
    ORDER BY rank, next_attempt_at
    LIMIT :scan
    """  # noqa: S608 - a fixed expression; values are bound parameters
)
"""Due rows, tenants taking turns: each tenant's oldest first, then each one's second, …
so one tenant's backlog of retries never stands before another tenant's first row."""
_CLAIM = text(
    """
    UPDATE ledger.callbacks c
    SET attempts = c.attempts + 1, next_attempt_at = now() + make_interval(secs => :lease)
    FROM (
        SELECT id FROM ledger.callbacks
        WHERE id = ANY(:ids) AND state = 'pending' AND next_attempt_at <= now()
        FOR UPDATE SKIP LOCKED
    ) due
    WHERE c.id = due.id
    RETURNING c.id, c.tenant_id, c.url, c.body, c.attempts, c.created_at, c.traceparent
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
_QUARANTINED = text(
    "UPDATE ledger.callbacks SET state = 'quarantined', next_attempt_at = now(), "
    "last_status_code = NULL, last_error = :reason WHERE id = :id"
)


def serialise(body: dict[str, Any]) -> bytes:
    """The bytes that are signed and sent; raises :class:`UnsendableError` if there are none."""
    try:
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise UnsendableError("unserialisable") from exc


class CallbackDeliverer:
    """Delivers due callbacks until stopped, each attempt an independent task.

    Claims take only as many rows as there are free slots, overall, per receiver and per
    tenant, so no claimed row waits for another attempt to end: a slow receiver holds its own
    slots (at most ``per_host`` per tenant), a tenant with many slow receivers at most its
    share (``per_tenant``), each for at most the deadline, and everything else flows past
    them. Tenants take turns, and the last slots are kept for tenants with nothing in
    flight, so even several tenants whose receivers all hang cannot hold every slot.
    """

    def __init__(
        self, engine: AsyncEngine, http: httpx.AsyncClient, config: DeliveryConfig
    ) -> None:
        """``http`` decides where callbacks may connect: in a service, always a client from
        :func:`ledger.callback_http.client` (a plain client applies no egress policy)."""
        self._engine = engine
        self._http = http
        self._config = config
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._busy: Counter[str] = Counter()
        self._busy_tenants: Counter[UUID] = Counter()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    async def run(self) -> None:
        """Claim and start due attempts until stopped, then let those in flight finish."""
        sampled = 0.0
        while not self._stopping.is_set():
            if time.monotonic() - sampled > BACKLOG_EVERY:
                sampled = time.monotonic()
                with contextlib.suppress(Exception):
                    await self.sample_backlog()
            self._wake.clear()
            try:
                started = len(await self._start_due())
            except Exception:
                log.exception("callback_claim_failed")
                started = 0
            if started == 0 or self._free() == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._config.idle_seconds)
        if self._inflight:
            await asyncio.wait(set(self._inflight))

    async def sample_backlog(self) -> None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(_BACKLOG)).one()
        PENDING.set(row.pending)
        OLDEST_PENDING.set(row.oldest or 0.0)

    async def deliver_due(self) -> int:
        """One round: claim what is due and fits, wait for those attempts; returns how many."""
        started = await self._start_due()
        if started:
            await asyncio.wait(started)
        return len(started)

    def _free(self) -> int:
        return self._config.concurrency - len(self._inflight)

    async def _start_due(self) -> list[asyncio.Task[None]]:
        cfg = self._config
        free = self._free()
        if free <= 0:
            return []
        share = cfg.tenant_share
        reserve = cfg.reserve
        full = [host for host, n in self._busy.items() if n >= cfg.per_host]
        full_tenants = [t for t, n in self._busy_tenants.items() if n >= share]
        async with self._engine.begin() as conn:
            candidates = await conn.execute(
                _CANDIDATES,
                {
                    "full": full,
                    "full_tenants": full_tenants,
                    "no_tenant": _NO_TENANT,
                    "scan": cfg.scan,
                },
            )
            picked: list[int] = []
            taking: Counter[str] = Counter()
            taking_tenants: Counter[UUID] = Counter()
            # tenants with the fewest attempts in flight first, each one's oldest rows first
            ordered = sorted(candidates, key=lambda c: self._busy_tenants[c.share] + c.rank)
            for c in ordered:
                host = receiver_of(c.share, c.url)
                held = self._busy_tenants[c.share] + taking_tenants[c.share]
                if (
                    self._busy[host] + taking[host] < cfg.per_host
                    and held < share
                    # the last free slots are kept for tenants with nothing in flight
                    and (held == 0 or free - len(picked) > reserve)
                ):
                    taking[host] += 1
                    taking_tenants[c.share] += 1
                    picked.append(c.id)
                    if len(picked) == free:
                        break
            if not picked:
                return []
            rows = list(await conn.execute(_CLAIM, {"ids": picked, "lease": cfg.lease_seconds}))
            tenants = list({r.tenant_id for r in rows if r.tenant_id is not None})
            secrets: dict[UUID, list[str]] = {}
            if tenants:
                for s in await conn.execute(CALLBACK_SECRETS, {"tenants": tenants}):
                    secrets.setdefault(s.tenant_id, []).append(s.secret)
        started = []
        for r in rows:
            due = _Due(r.id, r.tenant_id, r.url, r.body, r.attempts, r.created_at, r.traceparent)
            tenant = due.tenant_id or _NO_TENANT
            host = receiver_of(tenant, due.url)
            self._busy[host] += 1
            self._busy_tenants[tenant] += 1
            task = asyncio.create_task(
                self._attempt(due, secrets.get(due.tenant_id, []) if due.tenant_id else [])
            )
            self._inflight.add(task)
            task.add_done_callback(functools.partial(self._done, host, tenant))
            started.append(task)
        IN_FLIGHT.set(len(self._inflight))
        return started

    def _done(self, host: str, tenant: UUID, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._busy[host] -= 1
        if self._busy[host] <= 0:
            del self._busy[host]
        self._busy_tenants[tenant] -= 1
        if self._busy_tenants[tenant] <= 0:
            del self._busy_tenants[tenant]
        IN_FLIGHT.set(len(self._inflight))
        self._wake.set()

    async def _attempt(self, due: _Due, secrets: list[str]) -> None:
        """Try one callback and record how it went, whatever happens while trying; never
        raises (only an attempt whose outcome cannot be written is tried again when its
        lease ends)."""
        try:
            try:
                outcome = await self._post(due, secrets)
            except UnsendableError as exc:
                await self._quarantine(due, exc.reason)
                return
            except Exception as exc:  # a class, retried with backoff
                log.warning(
                    "callback_unexpected_error", callback_id=due.id, error_type=type(exc).__name__
                )
                outcome = Outcome(None, "unexpected_error")
            await self._record(due, outcome)
        except Exception:
            log.exception("callback_attempt_failed", callback_id=due.id)

    async def _post(self, due: _Due, secrets: list[str]) -> Outcome:
        body = serialise(due.body)
        if not secrets:
            return Outcome(None, "no_secret")
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(secrets, int(time.time()), body),
            EVENT_ID_HEADER: str(due.body.get("event_id", "")),
            "User-Agent": "whatsapp-notif-callbacks",
        }
        with telemetry.continued("callback deliver", due.traceparent):
            return await callback_http.post(
                self._http,
                due.url,
                body,
                headers,
                deadline=self._config.timeout_seconds,
                max_response_bytes=self._config.max_response_bytes,
            )

    async def _record(self, due: _Due, outcome: Outcome) -> None:
        if outcome.error is None:
            DELIVERIES.labels(result="delivered").inc()
            async with self._engine.begin() as conn:
                await conn.execute(_DELIVERED, {"id": due.id, "code": outcome.status_code})
            return
        cfg = self._config
        next_at = datetime.now(UTC) + timedelta(seconds=cfg.retry.delay(due.attempts))
        gave_up = next_at > due.created_at + timedelta(seconds=cfg.max_age_seconds)
        DELIVERIES.labels(result="failed" if gave_up else "retry").inc()
        ERRORS.labels(error=outcome.error).inc()
        after: CallbackState = "failed" if gave_up else "pending"
        async with self._engine.begin() as conn:
            await conn.execute(
                _FAILED_ATTEMPT,
                {
                    "id": due.id,
                    "state": after,
                    "next": next_at,
                    "code": outcome.status_code,
                    "error": outcome.error,
                },
            )
        log.info(
            "callback_failed" if gave_up else "callback_retry",
            callback_id=due.id,
            attempts=due.attempts,
            status_code=outcome.status_code,
            error=outcome.error,
        )

    async def _quarantine(self, due: _Due, reason: UnsendableClass) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(_QUARANTINED, {"id": due.id, "reason": reason})
        DELIVERIES.labels(result="quarantined").inc()
        quarantine.record("callbacks", "unsendable")
        log.warning("callback_quarantined", callback_id=due.id, reason=reason)
