"""The dispatcher's recipient checks against the ledger's projection lag, on the whole stack.

The ledger learns an inbound message a few hundred milliseconds after ingest acknowledged
Meta's webhook (outbox relay, events queue, batch). A business answering a customer at once
must not be failed with 131047 for that lag, and a STOP ingest has acknowledged must stop a
send that starts after it, though the ledger has not projected it yet.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import signal
import statistics
import time
from typing import Any

import httpx
import psycopg
import pytest

from notif_core.db import libpq_url
from notif_core.ids import new_id
from notif_core.settings import CoreSettings
from tests.conftest import SANDBOX_SECRET, Stack, recipient
from tests.e2e.api import get, sandbox_sends, wait_queues_empty, wait_status
from tests.e2e.services import Services

pytestmark = pytest.mark.e2e
CUSTOMERS = 20


def text_reply(to: str) -> dict[str, Any]:
    return {"to": to, "text": {"body": "Thanks for writing, how can we help?"}}


async def _write_and_answer(client: httpx.AsyncClient, services: Services, key: str) -> str:
    """A customer writes ``hi`` through the sandbox; the business answers within 50 ms."""
    to = recipient()
    wrote = await client.post(
        services.url("sandbox") + "/_sandbox/inbound", json={"from": to, "text": "hi"}
    )
    assert wrote.status_code == 200, wrote.text
    answer = await client.post(  # at once: no wait between the two requests
        services.url("ingest") + "/v1/notifications",
        json=text_reply(to),
        headers={"X-API-Key": key},
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


async def test_customers_answered_at_once_get_their_answer(
    services: Services, api_key: str
) -> None:
    """Twenty customers each write ``hi`` and each gets a text at once: all delivered, none
    failed 131047 by a check on a window the ledger had not projected yet."""
    services.sandbox("/_sandbox/reset", {})
    async with httpx.AsyncClient(timeout=10) as client:
        ids = await asyncio.gather(
            *(_write_and_answer(client, services, api_key) for _ in range(CUSTOMERS))
        )
    finals: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while len(finals) < len(ids) and time.monotonic() < deadline:
        for nid in ids:
            view = await asyncio.to_thread(get, services, api_key, nid)
            if view["status"] in {"delivered", "read", "failed"}:
                finals[nid] = view
        await asyncio.sleep(0.2)
    failed = [v["last_error"] for v in finals.values() if v["status"] == "failed"]
    assert failed == [], failed
    assert len(finals) == CUSTOMERS
    for nid in ids:
        assert len(sandbox_sends(services, nid)) == 1


def signed_inbound(
    sender: str, wa_id: str | None, body: str, user_id: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """Meta's inbound-message webhook, signed with the app secret ingest checks; a username
    user's carries the BSUID (``user_id``), and may carry no number at all."""
    contact: dict[str, Any] = {"profile": {"name": "Customer"}}
    message: dict[str, Any] = {
        "id": f"wamid.stop-{new_id().hex}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": body},
    }
    if wa_id is not None:
        contact["wa_id"] = message["from"] = wa_id
    if user_id is not None:
        contact["user_id"] = message["from_user_id"] = user_id
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": sender},
        "contacts": [contact],
        "messages": [message],
    }
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }
    raw = json.dumps(envelope).encode()
    signature = hmac.new(SANDBOX_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"}


async def _stop_then_template(
    client: httpx.AsyncClient, services: Services, key: str, username: bool = False
) -> str:
    """A STOP, then at once a marketing template. A username user's STOP names only their
    BSUID, which an earlier message paired with the number."""
    to, sender = recipient(), CoreSettings().whatsapp_phone_number_id
    bsuid = f"US.{new_id().int % 10**20:020d}"
    webhooks = (
        [
            signed_inbound(sender, to.lstrip("+"), "hi", bsuid),
            signed_inbound(sender, None, "STOP", bsuid),
        ]
        if username
        else [signed_inbound(sender, to.lstrip("+"), "STOP")]
    )
    for raw, headers in webhooks:
        acknowledged = await client.post(
            services.url("ingest") + "/webhooks/whatsapp", content=raw, headers=headers
        )
        assert acknowledged.status_code == 200, acknowledged.text
    template = {
        "to": to,
        "template": {"name": "hello_world", "language": "en_US", "category": "marketing"},
    }
    accepted = await client.post(
        services.url("ingest") + "/v1/notifications", json=template, headers={"X-API-Key": key}
    )
    assert accepted.status_code == 202, accepted.text
    return str(accepted.json()["id"])


async def test_a_stop_ingest_acknowledged_stops_the_next_send(
    services: Services, api_key: str
) -> None:
    """Ten customers' STOPs reach ingest (200), and a marketing template to each follows at
    once: each ends ``suppressed`` and Meta never hears of it. Four of them are username
    users whose STOP names only their BSUID. The ledger is held still (SIGSTOP) for a few
    seconds meanwhile, as a backlog would hold it: the sends wait for it to project the
    STOPs, they do not go out on what it knew before."""
    services.sandbox("/_sandbox/reset", {})
    ledger = services.procs["ledger"]
    ledger.send_signal(signal.SIGSTOP)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            ids = await asyncio.gather(
                *(_stop_then_template(client, services, api_key, username=i < 4) for i in range(10))
            )
        await asyncio.sleep(4)
        assert [sandbox_sends(services, nid) for nid in ids] == [[]] * len(ids)
    finally:
        ledger.send_signal(signal.SIGCONT)
    for nid in ids:
        await asyncio.to_thread(wait_status, services, api_key, nid, "suppressed", 30)
        assert sandbox_sends(services, nid) == []


def _projected_after(dsn: str, to: str, within: float) -> float:
    """Seconds from ingest's acknowledgement of ``to``'s inbound (its mark) to the moment
    the ledger's window row is visible, on the database's clock, polled every 5 ms."""
    deadline = time.monotonic() + within
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT extract(epoch FROM clock_timestamp() - m.marked_at) "
                "FROM ingest.inbound_marks AS m JOIN ledger.windows AS w "
                "ON w.phone_number_id = m.phone_number_id AND w.recipient = m.recipient_key "
                "WHERE m.recipient_key = %s AND w.last_inbound_at >= m.last_inbound_at",
                (to,),
            ).fetchone()
            if row is not None:
                return float(row[0])
            time.sleep(0.005)
    raise TimeoutError(f"the ledger did not project the inbound message of {to}")


async def test_projection_lag_is_measured(services: Services, stack: Stack) -> None:
    """Webhook acknowledged → ledger projected, for 40 inbound messages one at a time on an
    idle stack (the figure docs/reliability.md quotes). Ingest's mark exists from the
    acknowledgement on, so the dispatcher never depends on this lag being small."""
    await wait_queues_empty(["events", "dispatch", "dispatch_high"], within=60)
    dsn = libpq_url(stack.database_url)
    lags: list[float] = []
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(40):
            to = recipient()
            wrote = await client.post(
                services.url("sandbox") + "/_sandbox/inbound", json={"from": to, "text": "hi"}
            )
            assert wrote.status_code == 200
            lags.append(await asyncio.to_thread(_projected_after, dsn, to, 10))
    lags.sort()
    p50, p95 = statistics.median(lags), lags[int(0.95 * len(lags)) - 1]
    print(
        f"projection lag: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms"
    )
    assert lags[0] > 0  # the ledger comes after ingest's acknowledgement, never before
    assert lags[-1] < 5  # every one projected, well inside the wait bound
