"""Usage, suppressions and status callbacks through the running services: ingest's API, the
ledger's read models and its callback deliverer, the dispatcher honouring suppressions."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from tests.conftest import recipient
from tests.e2e.api import hello, post, wait_status
from tests.e2e.services import Services

from ingest.account import pricing


def call(services: Services, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(
        method, services.url("ingest") + path, headers={"X-API-Key": key}, **kwargs
    )


def eventually(check: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


# --- usage ------------------------------------------------------------------------------


def test_usage_counts_priced_messages_by_category_and_country(
    services: Services, api_key: str
) -> None:
    before = call(
        services, api_key, "GET", "/v1/usage", params={"group_by": "category,country"}
    ).json()
    # the same row as counted below: other tests may have sent utility elsewhere (Mexico)
    utility_before = {(i["category"], i["country"]): i["messages"] for i in before["items"]}.get(
        ("utility", "US"), 0
    )
    ids = [post(services, api_key, hello(recipient())).json()["id"] for _ in range(3)]
    for nid in ids:
        wait_status(services, api_key, nid, "read", timeout=30)

    def counted() -> dict[str, Any] | None:
        report = call(
            services, api_key, "GET", "/v1/usage", params={"group_by": "category,country"}
        ).json()
        rows = {(i["category"], i["country"]): i for i in report["items"]}
        row = rows.get(("utility", "US"))
        return report if row and row["messages"] >= utility_before + 3 else None

    report = eventually(counted)
    assert report is not None
    assert report["group_by"] == ["category", "country"]
    row = next(i for i in report["items"] if (i["category"], i["country"]) == ("utility", "US"))
    assert row["billable_messages"] == row["messages"]
    assert report["total"]["messages"] == sum(i["messages"] for i in report["items"])
    today = datetime.now(UTC).date()
    by_day = call(services, api_key, "GET", "/v1/usage").json()
    assert by_day["to"] == today.isoformat()
    assert by_day["from"] == (today - timedelta(days=29)).isoformat()
    assert today.isoformat() in {i["day"] for i in by_day["items"]}


def test_usage_cost_is_the_rate_card_applied_per_category_and_country(
    services: Services, api_key: str
) -> None:
    nid = post(services, api_key, hello(recipient())).json()["id"]
    wait_status(services, api_key, nid, "read", timeout=30)
    card = pricing.load(None)  # the services run on the shipped example card

    def usage(group_by: str) -> dict[str, Any]:
        params = {"group_by": group_by, "cost": "true"}
        return call(services, api_key, "GET", "/v1/usage", params=params).json()  # type: ignore[no-any-return]

    fine = usage("category,country")
    assert (fine["currency"], fine["rate_card"]) == (card.currency, card.name)
    for item in fine["items"]:
        price = card.price(item["country"], item["category"])
        assert price is not None, item
        assert Decimal(item["cost"]) == price * item["billable_messages"], item
        assert item["unpriced_messages"] == 0
    assert Decimal(fine["total"]["cost"]) == sum(Decimal(i["cost"]) for i in fine["items"])
    assert Decimal(fine["total"]["cost"]) > 0

    def by_day_agrees() -> bool:  # the same usage grouped otherwise costs the same
        day, again = usage("day"), usage("category,country")
        counts = ("messages", "billable_messages", "unpriced_messages")
        return all(day["total"][k] == again["total"][k] for k in counts) and (
            sum(Decimal(i["cost"]) for i in day["items"])
            == Decimal(day["total"]["cost"])
            == Decimal(again["total"]["cost"])
        )

    assert eventually(by_day_agrees)
    plain = call(services, api_key, "GET", "/v1/usage").json()
    assert plain["total"].get("cost") is None


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"group_by": "tenant"}, "invalid_group_by"),
        ({"group_by": "day,day"}, "invalid_group_by"),
        ({"group_by": ""}, "invalid_group_by"),
        ({"from": "2026-11-02", "to": "2026-11-01"}, "invalid_range"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "invalid_range"),
    ],
)
def test_bad_usage_queries_are_400(
    services: Services, api_key: str, params: dict[str, str], code: str
) -> None:
    response = call(services, api_key, "GET", "/v1/usage", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


# --- suppressions -----------------------------------------------------------------------


def listed(services: Services, key: str, to: str) -> list[dict[str, Any]]:
    response = call(services, key, "GET", "/v1/suppressions", params={"recipient": to})
    assert response.status_code == 200
    return response.json()["items"]  # type: ignore[no-any-return]


def test_an_api_suppression_stops_sends_until_lifted(services: Services, api_key: str) -> None:
    to = recipient()
    added = call(services, api_key, "POST", "/v1/suppressions", json={"recipient": to})
    assert added.status_code == 202
    assert added.json()["action"] == "suppress"
    items = eventually(lambda: listed(services, api_key, to))
    assert [(i["scope"], i["source"]) for i in items] == [("all", "api")]
    nid = post(services, api_key, hello(to)).json()["id"]
    wait_status(services, api_key, nid, "suppressed", timeout=20)

    lifted = call(services, api_key, "DELETE", f"/v1/suppressions/{to}")
    assert lifted.status_code == 202
    assert eventually(lambda: not listed(services, api_key, to))
    nid = post(services, api_key, hello(to)).json()["id"]
    wait_status(services, api_key, nid, "read", timeout=30)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/v1/suppressions", {"recipient": "12"}, 422, "validation_error"),
        (
            "POST",
            "/v1/suppressions",
            {"recipient": "+14155550101", "scope": "x"},
            422,
            "validation_error",
        ),
        (
            "POST",
            "/v1/suppressions",
            {"recipient": "+14155550101", "phone_number_id": "999999999999999"},
            422,
            "unknown_phone_number_id",
        ),
        ("DELETE", "/v1/suppressions/not-a-number", None, 422, "validation_error"),
    ],
)
def test_bad_suppression_requests_change_nothing(
    services: Services,
    api_key: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    code: str | None,
) -> None:
    response = call(services, api_key, method, path, json=body)
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["error"]["code"] == code
    assert listed(services, api_key, "+14155550101") == []


# --- callbacks --------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), raw))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks", received
    server.shutdown()


def test_status_callbacks_arrive_signed_with_the_tenants_secret(
    services: Services,
    api_key: str,
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = receiver
    secrets = call(services, api_key, "GET", "/v1/callback-secrets").json()["secrets"]
    assert secrets
    assert all(s["secret"].startswith("whsec_") for s in secrets)
    body = {**hello(recipient()), "callback_url": url, "metadata": {"order": "B-7"}}
    nid = post(services, api_key, body).json()["id"]
    wait_status(services, api_key, nid, "read", timeout=30)
    assert eventually(lambda: len(received) >= 3)
    statuses = []
    for headers, raw in received:
        t, *signatures = headers["X-Notif-Signature"].split(",")
        stamp = t.removeprefix("t=")
        expected = {
            hmac.new(s["secret"].encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
            for s in secrets
        }
        assert {sig.removeprefix("v1=") for sig in signatures} & expected
        payload = json.loads(raw)
        assert payload["id"] == nid
        assert payload["metadata"] == {"order": "B-7"}
        statuses.append((payload["previous_status"], payload["status"]))
    assert sorted(statuses, key=lambda s: ["sent", "delivered", "read"].index(s[1])) == [
        ("accepted", "sent"),
        ("sent", "delivered"),
        ("delivered", "read"),
    ]
    view = call(services, api_key, "GET", f"/v1/notifications/{nid}").json()
    assert eventually(
        lambda: (
            {
                c["state"]
                for c in call(
                    services, api_key, "GET", "/v1/callbacks", params={"notification_id": nid}
                ).json()["items"]
            }
            == {"delivered"}
        )
    )
    assert len(view["callbacks"]) == 3


def test_rotating_the_callback_secret_keeps_the_old_one_for_the_overlap(
    services: Services, api_key: str
) -> None:
    before = call(services, api_key, "GET", "/v1/callback-secrets").json()["secrets"]
    rotated = call(
        services, api_key, "POST", "/v1/callback-secrets/rotate", json={"overlap_seconds": 60}
    )
    assert rotated.status_code == 201
    after = rotated.json()["secrets"]
    assert len(after) == 2  # the new secret and the newest previous one, never more
    assert after[0]["secret"] not in {s["secret"] for s in before}
    assert all(s["expires_at"] is not None for s in after[1:])
    too_long = call(
        services,
        api_key,
        "POST",
        "/v1/callback-secrets/rotate",
        json={"overlap_seconds": 10**9},
    )
    assert too_long.status_code == 422
    again = call(services, api_key, "GET", "/v1/callback-secrets").json()["secrets"]
    assert [s["secret"] for s in again] == [s["secret"] for s in after]
