"""Status callbacks: one per status change, signed, retried against a receiver that first
fails, given up after the retry period and visible as failed, signed with both secrets
during a rotation. The receiver is a real HTTP server; its signature check below is written
from the documented scheme, not with the ledger's code."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.account import callback_secrets
from ingest.account.keys import ensure_tenant
from ingest.notifications.read_model import callback_deliveries
from ledger import store
from ledger.callbacks import CallbackDeliverer, DeliveryConfig
from notif_core import events as ev
from notif_core.backoff import RetryPolicy
from notif_core.ids import derived_id, new_id

T0 = datetime.now(UTC).replace(microsecond=0)


def verify(header: str, body: bytes, secret: str, tolerance: int = 300) -> bool:
    """What a customer writes: split t= and every v1=, recompute, compare in constant time."""
    items = [part.split("=", 1) for part in header.split(",")]
    stamps = [v for k, v in items if k == "t"]
    if len(stamps) != 1 or abs(time.time() - int(stamps[0])) > tolerance:
        return False
    mac = hmac.new(secret.encode(), stamps[0].encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(mac, v) for k, v in items if k == "v1")


@dataclass
class Receiver:
    """A customer endpoint that answers 500 to the first ``failures`` requests."""

    url: str = ""
    failures: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        if len(self.received) <= self.failures:
            return web.Response(status=500)
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    box = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", box.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    box.url = f"http://127.0.0.1:{port}/hooks"
    yield box
    await runner.cleanup()


async def tenant_with_secret(engine: AsyncEngine) -> tuple[UUID, str]:
    async with engine.begin() as conn:
        tenant = await ensure_tenant(conn, f"callbacks-{new_id()}")
        (secret,) = (await callback_secrets.active(conn, tenant)).secrets
    return tenant, secret.secret


def lifecycle(nid: UUID, tenant: UUID, url: str) -> list[ev.Event]:
    wamid = f"wamid.{nid}"
    return [
        ev.NotificationAccepted(
            producer="test",
            notification_id=nid,
            tenant_id=tenant,
            occurred_at=T0,
            payload=ev.AcceptedPayload(
                to="+14155550101",
                message={"type": "text"},
                callback_url=url,
                metadata={"order": "A-1"},
            ),
        ),
        ev.NotificationSent(
            event_id=derived_id(wamid, "sent"),
            producer="test",
            notification_id=nid,
            occurred_at=T0 + timedelta(seconds=1),
            payload=ev.SentPayload(wamid=wamid),
        ),
        ev.NotificationFailed(
            event_id=derived_id(wamid, "failed"),
            producer="test",
            notification_id=nid,
            occurred_at=T0 + timedelta(seconds=2),
            payload=ev.FailedPayload(
                wamid=wamid, error=ev.MetaError(code=131026, title="Message undeliverable")
            ),
        ),
    ]


def deliverer(engine: AsyncEngine, http: httpx.AsyncClient, **overrides: Any) -> CallbackDeliverer:
    config = DeliveryConfig(
        retry=RetryPolicy(base_seconds=0.05, cap_seconds=0.1, max_attempts=0),
        timeout_seconds=2,
        **overrides,
    )
    return CallbackDeliverer(engine, http, config)


async def drain(worker: CallbackDeliverer, engine: AsyncEngine, nid: UUID, seconds: float) -> None:
    """Run delivery rounds until nothing for ``nid`` is pending (or time runs out)."""
    await drain_where(worker, engine, "notification_id = :id", {"id": nid}, seconds)


async def drain_where(
    worker: CallbackDeliverer,
    engine: AsyncEngine,
    which: str,
    params: dict[str, Any],
    seconds: float,
) -> None:
    """Run delivery rounds until no callback ``which`` (a fixed SQL condition) is pending."""
    pending_query = text(
        f"SELECT count(*) FROM ledger.callbacks WHERE {which} AND state = 'pending'"  # noqa: S608
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await worker.deliver_due()
        async with engine.connect() as conn:
            pending = (await conn.execute(pending_query, params)).scalar_one()
        if pending == 0:
            return
        await asyncio.sleep(0.05)


async def test_each_change_is_delivered_signed_after_retries(
    engine: AsyncEngine, receiver: Receiver
) -> None:
    tenant, secret = await tenant_with_secret(engine)
    nid = new_id()
    receiver.failures = 2
    async with engine.begin() as conn:
        await store.append(conn, lifecycle(nid, tenant, receiver.url))
    async with engine.begin() as conn:  # a replay owes nothing more
        await store.append(conn, lifecycle(nid, tenant, receiver.url))
    async with httpx.AsyncClient() as http:
        await drain(deliverer(engine, http), engine, nid, seconds=20)
    assert len(receiver.received) == 4  # two failures, then sent and failed once each
    bodies = {}
    for headers, raw in receiver.received:
        assert verify(headers["X-Notif-Signature"], raw, secret)
        assert not verify(headers["X-Notif-Signature"], raw + b" ", secret)
        body = json.loads(raw)
        assert headers["X-Notif-Event-Id"] == body["event_id"]
        bodies[body["status"]] = body
    assert set(bodies) == {"sent", "failed"}
    assert bodies["sent"]["previous_status"] == "accepted"
    assert bodies["failed"]["previous_status"] == "sent"
    assert bodies["failed"]["error"]["code"] == 131026
    assert bodies["failed"]["metadata"] == {"order": "A-1"}
    assert set(bodies["failed"]) == {
        "id",
        "status",
        "previous_status",
        "occurred_at",
        "error",
        "metadata",
        "event_id",
    }
    async with engine.connect() as conn:
        items, _ = await callback_deliveries(conn, tenant, notification_id=nid)
    assert {i.state for i in items} == {"delivered"}
    assert sum(i.attempts for i in items) == 4


async def test_a_receiver_that_never_answers_ends_failed_and_visible(
    engine: AsyncEngine, receiver: Receiver
) -> None:
    tenant, _ = await tenant_with_secret(engine)
    nid = new_id()
    receiver.failures = 10**6
    async with engine.begin() as conn:
        await store.append(conn, lifecycle(nid, tenant, receiver.url)[:2])
        # A day has passed: whichever ledger tries next (the services' own one may share
        # this database) gives up after that attempt.
        await conn.execute(
            text(
                "UPDATE ledger.callbacks SET created_at = now() - interval '25 hours' "
                "WHERE notification_id = :id"
            ),
            {"id": nid},
        )
    async with httpx.AsyncClient() as http:
        await drain(deliverer(engine, http), engine, nid, seconds=20)
    async with engine.connect() as conn:
        (item,), _ = await callback_deliveries(conn, tenant, notification_id=nid)
        failed, _ = await callback_deliveries(conn, tenant, state="failed")
    assert item.state == "failed"
    assert item.attempts >= 1
    assert len(receiver.received) == item.attempts
    assert item.last_status_code == 500
    assert item.last_error == "http_5xx"
    assert item.id in {f.id for f in failed}


async def test_during_a_rotation_both_secrets_verify(
    engine: AsyncEngine, receiver: Receiver
) -> None:
    tenant, old = await tenant_with_secret(engine)
    async with engine.begin() as conn:
        rotated = await callback_secrets.rotate(conn, tenant, overlap_seconds=3600)
    new = rotated.secrets[0].secret
    assert new != old
    assert [s.secret for s in rotated.secrets] == [new, old]
    assert rotated.secrets[1].expires_at is not None
    nid = new_id()
    async with engine.begin() as conn:
        await store.append(conn, lifecycle(nid, tenant, receiver.url)[:2])
    async with httpx.AsyncClient() as http:
        await drain(deliverer(engine, http), engine, nid, seconds=20)
    ((headers, raw),) = receiver.received
    assert verify(headers["X-Notif-Signature"], raw, new)
    assert verify(headers["X-Notif-Signature"], raw, old)
    async with engine.begin() as conn:  # the overlap ends: only the new secret signs
        await callback_secrets.rotate(conn, tenant, overlap_seconds=0)
        latest = (await callback_secrets.active(conn, tenant)).secrets
    assert len(latest) == 1
    assert latest[0].secret not in {old, new}


async def test_no_callback_without_a_url(engine: AsyncEngine, receiver: Receiver) -> None:
    tenant, _ = await tenant_with_secret(engine)
    nid = new_id()
    events = lifecycle(nid, tenant, receiver.url)
    accepted = events[0]
    assert isinstance(accepted, ev.NotificationAccepted)
    silent = accepted.model_copy(
        update={"payload": accepted.payload.model_copy(update={"callback_url": None})}
    )
    async with engine.begin() as conn:
        await store.append(conn, [silent, *events[1:]])
    async with engine.connect() as conn:
        items, _ = await callback_deliveries(conn, tenant, notification_id=nid)
    assert items == []
