"""Replies reach the business, end to end: a customer taps "Confirm" on a sent template
(the sandbox's quick-reply tap), and the tenant that owns the number gets one signed
callback with the button's payload and ``in_reply_to`` = its notification, however often
Meta delivers the webhook; it lists the message, marks it read through Meta, and another
tenant sees nothing of it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.account.keys import create_tenant_with_key
from tests.conftest import recipient
from tests.e2e.api import get, post, wait_status
from tests.e2e.services import Services

pytestmark = pytest.mark.e2e
Received = list[tuple[dict[str, str], bytes]]


class _Hooks(BaseHTTPRequestHandler):
    received: Received

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers) | {"path": self.path}, raw))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def hooks() -> Iterator[tuple[str, Received]]:
    received: Received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Hooks", (_Hooks,), {"received": received}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/inbound", received
    server.shutdown()


def call(services: Services, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(
        method, services.url("ingest") + path, headers={"X-API-Key": key}, **kwargs
    )


def until(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def signed_by(headers: dict[str, str], raw: bytes, secrets: list[str]) -> bool:
    stamp, *macs = headers["X-Notif-Signature"].split(",")
    signed = stamp.removeprefix("t=").encode() + b"." + raw
    expected = {hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets}
    return bool({m.removeprefix("v1=") for m in macs} & expected)


REMINDER = {
    "name": "appointment_reminder",
    "language": "en_US",
    "components": [
        {"type": "header", "parameters": [{"type": "text", "text": "May 4"}]},
        {
            "type": "body",
            "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "10:00"}],
        },
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "0",
            "parameters": [{"type": "payload", "payload": "CONFIRM-A-1"}],
        },
    ],
}


async def test_a_tap_on_confirm_reaches_its_tenant_once_signed_and_nobody_else(
    services: Services, api_key: str, engine: AsyncEngine, hooks: tuple[str, Received]
) -> None:
    url, received = hooks
    set_url = call(services, api_key, "PUT", "/v1/inbound/callback", json={"callback_url": url})
    assert set_url.status_code == 200, set_url.text
    async with engine.begin() as conn:
        _, other_key = await create_tenant_with_key(
            conn, f"other-{time.time_ns()}", phone_number_ids=[f"8{time.time_ns() % 10**12:012d}"]
        )
    assert (
        call(
            services, other_key, "PUT", "/v1/inbound/callback", json={"callback_url": url + "/b"}
        ).status_code
        == 200
    )

    to = recipient()
    sent = post(services, api_key, {"to": to, "template": REMINDER})
    assert sent.status_code == 202, sent.text
    nid = sent.json()["id"]
    wamid = wait_status(services, api_key, nid, "read", timeout=30)["wamid"]
    tap = httpx.post(
        services.url("sandbox") + "/_sandbox/inbound/button",
        json={"to_wamid": wamid, "index": 0, "duplicate": True},  # Meta delivers it twice
    )
    assert tap.status_code == 200, tap.text

    def inbound() -> Received:
        return [
            (h, raw) for h, raw in received if json.loads(raw).get("type") == "message.received"
        ]

    assert until(inbound)
    time.sleep(3)  # the duplicate webhook has come and gone by now
    calls = inbound()
    assert len(calls) == 1
    headers, raw = calls[0]
    assert headers["Content-Type"].startswith("application/json")
    secrets = [
        s["secret"]
        for s in call(services, api_key, "GET", "/v1/callback-secrets").json()["secrets"]
    ]
    assert signed_by(headers, raw, secrets)
    body = json.loads(raw)
    assert body["kind"] == "button"
    assert body["button"] == {"payload": "CONFIRM-A-1", "text": "Confirm"}
    assert body["in_reply_to"] == nid
    assert body["from"] == to
    assert {h["path"] for h, _ in received} == {"/inbound"}  # never tenant B's URL
    assert {h.get("X-Notif-Event-Id") for h, _ in calls} == {body["event_id"]}

    deliveries = call(services, api_key, "GET", "/v1/callbacks")
    assert deliveries.status_code == 200, deliveries.text
    [delivery] = [d for d in deliveries.json()["items"] if d["event_id"] == body["event_id"]]
    assert (delivery["kind"], delivery["notification_id"]) == ("inbound", None)
    listed = call(services, api_key, "GET", "/v1/inbound", params={"from": to}).json()["items"]
    assert [(m["id"], m["kind"], m["in_reply_to"]) for m in listed] == [(body["id"], "button", nid)]
    assert call(services, other_key, "GET", "/v1/inbound").json()["items"] == []
    assert call(services, other_key, "GET", f"/v1/inbound/{body['id']}").status_code == 404
    assert call(services, other_key, "POST", f"/v1/inbound/{body['id']}/read").status_code == 404

    read = call(
        services, api_key, "POST", f"/v1/inbound/{body['id']}/read", json={"typing_indicator": True}
    )
    assert read.status_code == 200, read.text
    assert read.json()["read_at"] is not None
    reads = httpx.get(services.url("sandbox") + "/_sandbox/reads").json()["reads"]
    assert {"message_id": body["wamid"], "typing_indicator": {"type": "text"}}.items() <= next(
        r for r in reads if r["message_id"] == body["wamid"]
    ).items()
    assert get(services, api_key, nid)["status"] == "read"


@pytest.mark.parametrize("asked", ["+525512340000", "+5215512340000", "52 55 1234 0000"])
def test_a_customer_is_found_by_any_form_of_their_number(
    services: Services, api_key: str, asked: str
) -> None:
    """Meta writes a Mexican mobile's id with a 1 after 52; the business dials it without."""
    wrote = httpx.post(
        services.url("sandbox") + "/_sandbox/inbound",
        json={"from": "+525512340000", "text": f"hola {asked}"},
    )
    assert wrote.status_code == 200, wrote.text

    def found() -> list[dict[str, Any]]:
        items = call(services, api_key, "GET", "/v1/inbound", params={"from": asked}).json()
        return [m for m in items["items"] if m["content"].get("body") == f"hola {asked}"]

    assert until(found)
    assert found()[0]["from"] == "+5215512340000"


def test_marking_read_when_meta_is_away_is_503_and_odd_inputs_are_422(
    services: Services, api_key: str
) -> None:
    to = recipient()
    wrote = httpx.post(
        services.url("sandbox") + "/_sandbox/inbound", json={"from": to, "text": "anyone?"}
    )
    assert wrote.status_code == 200, wrote.text

    def listed() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = call(
            services, api_key, "GET", "/v1/inbound", params={"from": to}
        ).json()["items"]
        return found

    assert until(listed)
    inbound_id = listed()[0]["id"]
    path = f"/v1/inbound/{inbound_id}/read"
    odd = call(services, api_key, "POST", path, json={"typing_indicator": "yes"})
    assert odd.status_code == 422
    assert odd.json()["error"]["field"] == "typing_indicator"
    bad_from = call(services, api_key, "GET", "/v1/inbound", params={"from": "nobody"})
    assert (bad_from.status_code, bad_from.json()["error"]["field"]) == (422, "from")
    control = services.url("sandbox") + "/_sandbox/config"
    httpx.post(control, json={"faults": {"error_503": 1.0}})
    try:
        away = call(services, api_key, "POST", path, json={})
    finally:
        httpx.post(control, json={"faults": {"error_503": 0.0}})
    assert away.status_code == 503, away.text
    assert away.json()["error"]["code"] == "meta_unavailable"
    assert away.headers["Retry-After"] == "5"
    assert call(services, api_key, "GET", f"/v1/inbound/{inbound_id}").json()["read_at"] is None
    assert call(services, api_key, "POST", path, json={}).status_code == 200
