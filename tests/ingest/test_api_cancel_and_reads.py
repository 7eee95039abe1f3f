"""Cancel (including a command already queued), expiry, and tenant-scoped reads."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import recipient
from tests.e2e.api import get, hello, post, sandbox_sends, wait_status
from tests.e2e.services import Services

from ingest.account.keys import create_tenant_with_key

pytestmark = pytest.mark.e2e


def cancel(services: Services, key: str, nid: str) -> httpx.Response:
    return httpx.post(
        services.url("ingest") + f"/v1/notifications/{nid}/cancel", headers={"X-API-Key": key}
    )


def test_cancel_a_scheduled_notification(services: Services, api_key: str) -> None:
    send_at = datetime.now(UTC) + timedelta(seconds=3)
    nid = post(services, api_key, hello(recipient()) | {"send_at": send_at.isoformat()}).json()[
        "id"
    ]
    response = cancel(services, api_key, nid)
    assert response.status_code == 200
    assert response.json() == {"id": nid, "status": "cancelled"}
    assert cancel(services, api_key, nid).status_code == 200  # idempotent
    wait_status(services, api_key, nid, "cancelled", timeout=10)
    time.sleep(5)  # past send_at: the queued command is honoured, nothing is sent
    assert sandbox_sends(services, nid) == []
    assert get(services, api_key, nid)["status"] == "cancelled"


def test_cancel_is_honoured_when_the_command_is_already_queued(
    services: Services, api_key: str
) -> None:
    services.signal("dispatcher")
    try:
        nid = post(services, api_key, hello(recipient())).json()["id"]
        assert cancel(services, api_key, nid).status_code == 200
    finally:
        services.start("dispatcher")
    view = wait_status(services, api_key, nid, "cancelled", timeout=10)
    time.sleep(1.5)
    assert sandbox_sends(services, nid) == []
    assert [h["status"] for h in view["history"]] == ["accepted", "cancelled"]


def test_cancel_after_sending_is_409_with_the_status(services: Services, api_key: str) -> None:
    nid = post(services, api_key, hello(recipient())).json()["id"]
    wait_status(services, api_key, nid, "read", timeout=15)
    response = cancel(services, api_key, nid)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_cancellable"
    assert response.json()["error"]["status"] == "read"


def test_a_notification_past_its_expiry_is_never_sent(services: Services, api_key: str) -> None:
    services.signal("dispatcher")
    try:
        nid = post(services, api_key, hello(recipient()) | {"ttl_seconds": 1}).json()["id"]
        time.sleep(1.5)
    finally:
        services.start("dispatcher")
    view = wait_status(services, api_key, nid, "expired", timeout=10)
    assert sandbox_sends(services, nid) == []
    assert view["history"][-1]["type"] == "notification.expired"


def test_events_and_listing_with_a_stable_cursor(services: Services, api_key: str) -> None:
    to = recipient()
    ids = [post(services, api_key, hello(to)).json()["id"] for _ in range(5)]
    wait_status(services, api_key, ids[0], "read", timeout=30)
    events = httpx.get(
        services.url("ingest") + f"/v1/notifications/{ids[0]}/events",
        headers={"X-API-Key": api_key},
    ).json()
    assert events["events"][0]["type"] == "notification.accepted"
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"to": to, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = httpx.get(
            services.url("ingest") + "/v1/notifications",
            params=params,
            headers={"X-API-Key": api_key},
        ).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))  # newest first, no gaps, no repeats
    read_only = httpx.get(
        services.url("ingest") + "/v1/notifications",
        params={"to": to, "status": "read"},
        headers={"X-API-Key": api_key},
    ).json()
    assert ids[0] in [i["id"] for i in read_only["items"]]
    assert all(i["status"] == "read" for i in read_only["items"])
    bad = httpx.get(
        services.url("ingest") + "/v1/notifications",
        params={"cursor": "!!"},
        headers={"X-API-Key": api_key},
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_cursor")


async def test_another_tenants_notification_is_404(
    services: Services, api_key: str, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        _, other_key = await create_tenant_with_key(conn, f"other-{time.time_ns()}")
    nid = post(services, api_key, hello(recipient())).json()["id"]
    base = services.url("ingest") + f"/v1/notifications/{nid}"
    for path in ("", "/events"):
        response = httpx.get(base + path, headers={"X-API-Key": other_key})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "notification_not_found"
    assert cancel(services, other_key, nid).status_code == 404
    listing = httpx.get(
        services.url("ingest") + "/v1/notifications", headers={"X-API-Key": other_key}
    )
    assert listing.json()["items"] == []


async def test_a_cancel_is_read_back_before_the_ledger_projects_it(
    services: Services, api_key: str, engine: AsyncEngine
) -> None:
    """Read your writes: the GET after a `cancelled` answer says `cancelled`, from the cancel
    ingest committed, even while the ledger (the read model) is paused."""
    send_at = datetime.now(UTC) + timedelta(seconds=60)
    ledger = services.procs["ledger"]
    ledger.send_signal(signal.SIGSTOP)  # paused, not restarted: cheaper, and as stale
    try:
        nid = post(services, api_key, hello(recipient()) | {"send_at": send_at.isoformat()})
        nid = nid.json()["id"]
        assert get(services, api_key, nid)["status"] == "scheduled"
        assert cancel(services, api_key, nid).json() == {"id": nid, "status": "cancelled"}
        view = get(services, api_key, nid)
        listed = httpx.get(
            services.url("ingest") + "/v1/notifications",
            params={"status": "cancelled", "limit": 5},
            headers={"X-API-Key": api_key},
        ).json()
        async with engine.connect() as conn:
            projected = (
                await conn.execute(
                    text("SELECT status FROM ledger.notifications WHERE id = :id"), {"id": nid}
                )
            ).scalar_one_or_none()
    finally:
        ledger.send_signal(signal.SIGCONT)
    assert projected is None  # the ledger had not seen it: the answer is ingest's own
    assert view["status"] == "cancelled"
    assert "cancelled" in view["timestamps"]
    assert nid in [item["id"] for item in listed["items"]]
    caught_up = wait_status(services, api_key, nid, "cancelled", timeout=1)
    deadline = time.monotonic() + 10
    while "notification.cancelled" not in [h["type"] for h in caught_up["history"]]:
        assert time.monotonic() < deadline, caught_up
        time.sleep(0.2)
        caught_up = get(services, api_key, nid)
    assert caught_up["status"] == "cancelled"
