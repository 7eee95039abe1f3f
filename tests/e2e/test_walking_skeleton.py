"""The whole path on real parts: REST → outbox → SQS → dispatcher → sandbox → webhooks → ledger."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from datetime import datetime

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.account.keys import authenticate
from ingest.api.schemas import NotificationRequest
from ingest.notifications import accept
from notif_core import __version__
from notif_core.events import utcnow
from notif_core.ids import new_id
from tests.conftest import SANDBOX_SECRET, Stack, recipient
from tests.e2e.api import (
    get,
    hello,
    open_window,
    post,
    sandbox_sends,
    wait_queues_empty,
    wait_status,
)
from tests.e2e.services import Services
from wa_sandbox.meta import sign, webhook_envelope

pytestmark = pytest.mark.e2e


async def wait_inbox_processed(engine: AsyncEngine, within: float = 10) -> None:
    """Until every stored webhook has been turned into events."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with engine.connect() as conn:
            pending = (
                await conn.execute(
                    text("SELECT count(*) FROM ingest.webhook_inbox WHERE processed_at IS NULL")
                )
            ).scalar_one()
        if pending == 0:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("webhook inbox not processed")


def test_health_has_the_runbook_shape(services: Services) -> None:
    for name in ("ingest", "relay", "ledger", "dispatcher"):
        body = httpx.get(services.url(name) + "/health").json()
        assert set(body) == {"status", "version", "timestamp"}
        assert body["status"] == "healthy"
        assert body["version"] == __version__
        assert datetime.fromisoformat(body["timestamp"]).utcoffset() is not None
    ready = httpx.get(services.url("ingest") + "/v1/health")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "healthy"
    assert body["database"] == {"connected": True}
    assert body["redis"] == {"connected": True}
    relay = httpx.get(services.url("relay") + "/v1/health").json()
    assert relay["database"] == {"connected": True}
    assert relay["queue"] == {"connected": True}


def test_a_text_inside_the_window_reaches_read_with_its_full_history(
    stack: Stack, services: Services, api_key: str
) -> None:
    to = recipient()
    open_window(services, stack.database_url, to)
    started = time.monotonic()
    response = post(services, api_key, {"to": to, "text": {"body": "Your order shipped"}})
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "accepted"
    view = wait_status(services, api_key, accepted["id"], "read", timeout=15)
    assert time.monotonic() - started < 15
    statuses = [h["status"] for h in view["history"] if h["status"] is not None]
    assert statuses == ["accepted", "sent", "delivered", "read"]
    assert set(view["timestamps"]) == {"accepted", "sent", "delivered", "read"}
    assert "usage.billed" in {h["type"] for h in view["history"]}
    assert view["pricing"]["category"] == "service"  # a reply inside the window is free
    assert view["pricing"]["billable"] is False
    sends = sandbox_sends(services, accepted["id"])
    assert len(sends) == 1
    assert view["wamid"] == sends[0]["wamid"]
    assert sends[0]["body"]["text"] == {"body": "Your order shipped", "preview_url": False}


def test_a_text_outside_the_window_fails_with_metas_code(services: Services, api_key: str) -> None:
    nid = post(services, api_key, {"to": recipient(), "text": {"body": "hello?"}}).json()["id"]
    view = wait_status(services, api_key, nid, "failed", timeout=15)
    assert view["last_error"]["code"] == 131047
    statuses = [h["status"] for h in view["history"]]
    assert (statuses[0], statuses[-1]) == ("accepted", "failed")
    # A fresh command is left to Meta: its user's webhook may still be on its way (an old
    # one fails before calling Meta: tests/dispatcher/test_window_certainty.py).
    assert len(sandbox_sends(services, nid)) == 1


def test_a_template_is_sent_as_meta_expects(services: Services, api_key: str) -> None:
    body = {
        "to": recipient(),
        "template": {
            "name": "order_update",
            "language": "en_US",
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-1"}]}],
        },
    }
    nid = post(services, api_key, body).json()["id"]
    wait_status(services, api_key, nid, "read", timeout=15)
    (send,) = sandbox_sends(services, nid)
    assert send["body"]["type"] == "template"
    assert send["body"]["template"]["language"] == {"policy": "deterministic", "code": "en_US"}


async def test_a_replayed_webhook_changes_nothing(
    services: Services, api_key: str, engine: AsyncEngine
) -> None:
    to = recipient()
    nid = post(services, api_key, hello(to)).json()["id"]
    await asyncio.to_thread(wait_status, services, api_key, nid, "read", 15)
    await wait_queues_empty(["events"], within=15)
    before = get(services, api_key, nid)
    statuses = [
        {
            "id": before["wamid"],
            "status": s,
            "timestamp": str(int(time.time())),
            "recipient_id": to.lstrip("+"),
            "biz_opaque_callback_data": nid,
        }
        for s in ("delivered", "sent", "read")
    ]
    raw = json.dumps(
        webhook_envelope("WABA", "15550001111", "100000000000001", {"statuses": statuses})
    ).encode()
    headers = {"X-Hub-Signature-256": sign(SANDBOX_SECRET, raw), "Content-Type": "application/json"}
    async with httpx.AsyncClient() as client:
        for _ in range(2):
            response = await client.post(
                services.url("ingest") + "/webhooks/whatsapp", content=raw, headers=headers
            )
            assert response.status_code == 200
            assert response.json() == {"received": True}
    await wait_inbox_processed(engine)
    await wait_queues_empty(["events"], within=15)
    after = get(services, api_key, nid)
    assert after == before


async def test_the_relay_publishes_what_a_crash_left_in_the_outbox(
    services: Services, api_key: str, engine: AsyncEngine
) -> None:
    """A row committed but never published (crash after commit) still gets sent."""
    async with engine.connect() as conn:
        caller = await authenticate(conn, api_key)
    assert caller is not None
    prepared = accept.prepare(
        caller, NotificationRequest.model_validate(hello(recipient())), utcnow()
    )
    async with engine.begin() as conn:
        await accept.write(conn, [(caller, prepared)])  # committed; never published
    nid = prepared.id
    view = await asyncio.to_thread(wait_status, services, api_key, str(nid), "read", 20)
    assert [h["status"] for h in view["history"] if h["status"]] == [
        "accepted",
        "sent",
        "delivered",
        "read",
    ]


def test_bad_input_gets_a_documented_error_and_changes_nothing(
    services: Services, api_key: str
) -> None:
    base = services.url("ingest")
    missing = httpx.post(base + "/v1/notifications", json=hello(recipient()))
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "missing_api_key"
    wrong = httpx.post(
        base + "/v1/notifications",
        json=hello(recipient()),
        headers={"X-API-Key": "wn_live_" + "A" * 43},
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    bad_phone = post(services, api_key, {"to": "+1555", "text": {"body": "x"}})
    assert bad_phone.status_code == 422
    assert bad_phone.json()["error"]["code"] == "validation_error"
    assert [f["field"] for f in bad_phone.json()["error"]["fields"]] == ["to"]
    unknown = httpx.get(base + f"/v1/notifications/{new_id()}", headers={"X-API-Key": api_key})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "notification_not_found"


def test_webhook_handshake_and_signature(services: Services) -> None:
    url = services.url("ingest") + "/webhooks/whatsapp"
    ok = httpx.get(
        url,
        params={
            "hub.mode": "subscribe",
            "hub.challenge": "1158201444",
            "hub.verify_token": "sandbox-verify-token",
        },
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    denied = httpx.get(
        url, params={"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "wrong"}
    )
    assert denied.status_code == 403
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    forged = httpx.post(
        url,
        content=body,
        headers={
            "X-Hub-Signature-256": sign("not-the-secret", body),
            "Content-Type": "application/json",
        },
    )
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "invalid_signature"


def test_sigterm_of_the_dispatcher_while_messages_flow_loses_none(
    services: Services, api_key: str
) -> None:
    ids = [post(services, api_key, hello(recipient())).json()["id"] for i in range(40)]
    deadline = time.monotonic() + 10
    while not sandbox_sends(services, ids[0]) and time.monotonic() < deadline:
        time.sleep(0.02)
    exit_code = services.signal("dispatcher", signal.SIGTERM, timeout=30)
    assert exit_code == 0, services.log("dispatcher")[-2000:]
    assert '"event":"dispatcher_stopped"' in services.log("dispatcher")
    services.start("dispatcher")
    for nid in ids:
        wait_status(services, api_key, nid, "read", timeout=30)
        assert len(sandbox_sends(services, nid)) == 1, nid


def test_database_down_gives_503_then_recovers(stack: Stack, services: Services) -> None:
    assert stack.local.postgres is not None
    stack.local.postgres.stop()
    try:
        down = httpx.get(services.url("ingest") + "/v1/health", timeout=15)
        assert down.status_code == 503
        assert down.json()["database"] == {"connected": False}
        assert down.json()["status"] == "unhealthy"
    finally:
        stack.local.postgres.start()
    deadline = time.monotonic() + 15
    status = 0
    while time.monotonic() < deadline and status != 200:
        status = httpx.get(services.url("ingest") + "/v1/health", timeout=15).status_code
        time.sleep(0.2)
    assert status == 200
