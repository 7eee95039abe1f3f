"""Meta's webhooks item by item, through the running system: a status or message that cannot
be translated costs only itself, text the database or a queue could not carry is made
storable first, and no signed body is ever answered 500."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import Receive, Scope, Send
from tests.conftest import SANDBOX_SECRET, recipient
from tests.e2e.services import Services

from ingest.api.middleware import RequestGuard
from ingest.metrics import REQUESTS
from ledger import sealing
from notif_core.identity import recipient_key
from notif_core.ids import derived_id, new_id
from wa_sandbox.meta import sign

pytestmark = pytest.mark.e2e

PRICING = {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}


def now() -> str:
    return str(int(time.time()))


def wamid() -> str:
    return f"wamid.items-{new_id().hex}"


def status(wid: str, kind: str = "read", **fields: Any) -> dict[str, Any]:
    return {"id": wid, "status": kind, "timestamp": now(), "recipient_id": "14155550100"} | fields


def body(*, statuses: Sequence[Any] = (), messages: Sequence[Any] = ()) -> bytes:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": "PN-ITEMS"},
    }
    if statuses:
        value["statuses"] = list(statuses)
    if messages:
        value["messages"] = list(messages)
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(payload).encode()  # ensure_ascii: "\ud800" and "\u0000" as escapes


def deliver(services: Services, raw: bytes) -> httpx.Response:
    return httpx.post(
        services.url("ingest") + "/webhooks/whatsapp",
        content=raw,
        headers={
            "X-Hub-Signature-256": sign(SANDBOX_SECRET, raw),
            "Content-Type": "application/json",
        },
        timeout=30,
    )


async def in_ledger(engine: AsyncEngine, event_id: UUID, within: float = 20) -> dict[str, Any]:
    """The event's body as the ledger stored it (it went through outbox, queue and ledger),
    its sealed personal fields opened."""
    query = text("SELECT body FROM ledger.events WHERE event_id = :id")
    deadline = time.monotonic() + within
    while True:
        async with engine.connect() as conn:
            found = (await conn.execute(query, {"id": event_id})).scalar_one_or_none()
            if found is not None:
                (event,) = await sealing.opened(conn, [found])
                return event.model_dump(mode="json", by_alias=True)
        assert time.monotonic() < deadline, f"the ledger never stored event {event_id}"
        await asyncio.sleep(0.1)


async def inbox_processed(engine: AsyncEngine, raw: bytes) -> list[bool]:
    query = text("SELECT processed_at IS NOT NULL FROM ingest.webhook_inbox WHERE body = :b")
    async with engine.connect() as conn:
        return list((await conn.execute(query, {"b": raw})).scalars())


async def queued(engine: AsyncEngine, event_id: UUID) -> int:
    query = text("SELECT count(*) FROM ingest.outbox WHERE body::jsonb->>'event_id' = :id")
    async with engine.connect() as conn:
        return int((await conn.execute(query, {"id": str(event_id)})).scalar_one())


def untranslated(services: Services, kind: str) -> float:
    scrape = httpx.get(services.url("ingest") + "/metrics").text
    match = re.search(
        rf'^ingest_webhook_items_untranslated_total{{kind="{kind}"}} (\S+)$', scrape, re.M
    )
    return float(match.group(1)) if match else 0.0


ODD_BUT_TRANSLATABLE = {
    "pricing-with-a-new-key": {"pricing": PRICING | {"new_meta_field": "x"}},
    "timestamp-infinity": {"timestamp": float("inf")},
    "timestamp-10e30": {"timestamp": 10**30},
    "pricing-category-a-list": {"pricing": PRICING | {"category": ["utility"]}},
}


@pytest.mark.parametrize("odd", ODD_BUT_TRANSLATABLE.values(), ids=ODD_BUT_TRANSLATABLE.keys())
async def test_a_good_status_is_applied_beside_an_odd_one(
    services: Services, engine: AsyncEngine, odd: dict[str, Any]
) -> None:
    good, other = wamid(), wamid()
    raw = body(statuses=[status(good, "read"), status(other, "delivered", pricing=PRICING) | odd])
    before = datetime.now(UTC)
    response = deliver(services, raw)
    assert response.status_code == 200, response.text
    await in_ledger(engine, derived_id(good, "read"))
    delivered = await in_ledger(engine, derived_id(other, "delivered"))  # degraded, not lost
    occurred = datetime.fromisoformat(delivered["occurred_at"])
    assert before - timedelta(seconds=5) < occurred < datetime.now(UTC) + timedelta(seconds=5)
    pricing = delivered["payload"]["pricing"]
    assert pricing["category"] in ("utility", None)
    assert "new_meta_field" not in pricing
    assert await inbox_processed(engine, raw) == [True]


async def test_an_absurd_wamid_is_untranslated_and_its_neighbour_applied(
    services: Services, engine: AsyncEngine
) -> None:
    good, absurd = wamid(), "wamid." + "A" * 300_000
    raw = body(statuses=[status(absurd, "delivered"), status(good, "read")])
    counted = untranslated(services, "status")
    response = deliver(services, raw)
    assert response.status_code == 200, response.text
    await in_ledger(engine, derived_id(good, "read"))
    assert await queued(engine, derived_id(absurd, "delivered")) == 0
    assert await inbox_processed(engine, raw) == [False]  # kept for an operator to look at
    assert untranslated(services, "status") == counted + 1


async def test_a_message_without_sender_costs_only_itself(
    services: Services, engine: AsyncEngine
) -> None:
    good = wamid()
    sender = recipient().lstrip("+")
    nobody = {"id": wamid(), "timestamp": now(), "type": "text", "text": {"body": "hi"}}
    hello = {"id": good, "from": sender, "timestamp": now(), "type": "text", "text": {"body": "hi"}}
    raw = body(messages=[nobody, hello])
    counted = untranslated(services, "message")
    assert deliver(services, raw).status_code == 200
    await in_ledger(engine, derived_id(good, "inbound"))
    assert await inbox_processed(engine, raw) == [False]
    assert untranslated(services, "message") == counted + 1


@pytest.mark.parametrize("bad", ["\ud800", "\x00"], ids=["lone-surrogate", "nul"])
async def test_unstorable_text_in_an_inbound_is_replaced(
    services: Services, engine: AsyncEngine, bad: str
) -> None:
    wid, sender = wamid(), recipient().lstrip("+")
    message = {
        "id": wid,
        "from": sender,
        "timestamp": now(),
        "type": "text",
        "text": {"body": f"hello {bad} there"},
    }
    response = deliver(services, body(messages=[message]))
    assert response.status_code == 200, response.text
    stored = await in_ledger(engine, derived_id(wid, "inbound"))
    assert stored["payload"]["text"] == "hello \ufffd there"


@pytest.mark.parametrize("bad", ["\ud800", "\x00"], ids=["lone-surrogate", "nul"])
async def test_unstorable_text_in_a_failed_status_is_replaced(
    services: Services, engine: AsyncEngine, bad: str
) -> None:
    wid = wamid()
    error = {
        "code": 131026,
        "title": f"Message undeliverable{bad}",
        "error_data": {"details": f"details {bad}"},
    }
    response = deliver(services, body(statuses=[status(wid, "failed", errors=[error])]))
    assert response.status_code == 200, response.text
    stored = await in_ledger(engine, derived_id(wid, "failed", "131026"))
    assert stored["payload"]["error"] == {
        "code": 131026,
        "title": "Message undeliverable\ufffd",
        "message": None,
        "details": "details \ufffd",
    }


NUL_PLACES = {
    "pricing-category": {"pricing": PRICING | {"category": "util\x00ity"}},
    "conversation-id": {"conversation": {"id": "conv\x00", "origin": {"type": "utility"}}},
    "recipient-id": {"recipient_id": "1415555\x000100"},
}


@pytest.mark.parametrize("odd", NUL_PLACES.values(), ids=NUL_PLACES.keys())
async def test_a_nul_anywhere_in_a_status_still_reaches_the_ledger(
    services: Services, engine: AsyncEngine, odd: dict[str, Any]
) -> None:
    wid = wamid()
    kind = "sent" if "recipient_id" in odd else "delivered"
    response = deliver(services, body(statuses=[status(wid, kind) | odd]))
    assert response.status_code == 200, response.text
    stored = await in_ledger(engine, derived_id(wid, kind))
    assert "\ufffd" in json.dumps(stored, ensure_ascii=False)


async def opted_out(engine: AsyncEngine, who: str, within: float = 20) -> None:
    query = text(
        "SELECT 1 FROM ledger.suppressions WHERE recipient = :r AND since IS NOT NULL "
        "AND (lifted_at IS NULL OR since > lifted_at)"
    )
    deadline = time.monotonic() + within
    while True:
        async with engine.connect() as conn:
            if (await conn.execute(query, {"r": recipient_key(who)})).first():
                return
        assert time.monotonic() < deadline, "the STOP was not recorded"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("stop", ["STOP\x00", "\ud800STOP"], ids=["nul", "lone-surrogate"])
async def test_a_stop_with_unstorable_text_still_opts_out(
    services: Services, engine: AsyncEngine, stop: str
) -> None:
    sender = recipient()
    message = {
        "id": wamid(),
        "from": sender.lstrip("+"),
        "timestamp": now(),
        "type": "text",
        "text": {"body": stop},
    }
    response = deliver(services, body(messages=[message]))
    assert response.status_code == 200, response.text
    await opted_out(engine, sender)


ODD_BODIES = {
    "entry-a-string": b'{"entry": "x"}',
    "items-of-every-kind": body(statuses=[1, "a", None, [], {"status": "read"}]),
    "keys-with-nul": b'{"entry": [{"changes": [{"value": {"sta\\u0000tuses": [], "\\ud800": 1}}]}]}',
    "metadata-an-object": json.dumps(
        {
            "entry": [
                {
                    "changes": [
                        {
                            "value": {
                                "metadata": {"phone_number_id": {"x": 1}},
                                "messages": [{"id": ["x"], "from": {"a": 1}, "text": "STOP"}],
                                "statuses": [{"id": 5, "status": "failed", "errors": [{}]}],
                            }
                        }
                    ]
                }
            ]
        }
    ).encode(),
    "nan-everywhere": b'{"entry": [{"changes": [{"value": {"statuses": [{"id": "w", '
    b'"status": "delivered", "timestamp": NaN, "pricing": {"billable": NaN}, '
    b'"conversation": {"id": NaN}}]}}]}]}',
    "huge-id-sender": body(messages=[{"id": "w.1", "from": "1" * 100_000, "type": "text"}]),
}


@pytest.mark.parametrize("raw", ODD_BODIES.values(), ids=ODD_BODIES.keys())
async def test_no_signed_json_object_is_answered_500(
    services: Services, engine: AsyncEngine, raw: bytes
) -> None:
    response = deliver(services, raw)
    assert response.status_code == 200, response.text
    assert len(await inbox_processed(engine, raw)) == 1  # kept, whatever it held


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b"[]", "invalid_payload"), (b'"x"', "invalid_payload"), (b"\xff\xfe{", "invalid_json")],
    ids=["array", "string", "not-utf8"],
)
def test_a_signed_body_that_is_no_webhook_is_a_documented_400(
    services: Services, raw: bytes, code: str
) -> None:
    response = deliver(services, raw)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


async def test_an_unhandled_exception_is_counted_as_500() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("a bug")

    app = ServerErrorMiddleware(RequestGuard(broken, max_body=1024, large_paths={}))
    counter = REQUESTS.labels("none", "GET", "500")
    before = counter._value.get()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert counter._value.get() == before + 1
    assert REQUESTS.labels("none", "GET", "0")._value.get() == 0
