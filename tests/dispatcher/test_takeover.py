"""A send whose outcome never reached the gate: Meta's statuses decide, not a second send.

A holder that died between Meta's 200 and the ``sent`` commit is played for real: the
notification's own request goes to the sandbox (as the holder sent it), its claim is left
``claimed`` with a lapsed lease, and a dispatcher started afterwards picks up the command.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import recipient
from tests.e2e.api import dispatch_command, hello, post, sandbox_sends, wait_status
from tests.e2e.services import Services

from dispatcher.accepted_wamid import LedgerAcceptedWamids
from dispatcher.cloud_api import CloudApi
from notif_core.events import NotificationAccepted
from notif_core.settings import CoreSettings
from notif_local.ports import free_port

pytestmark = pytest.mark.e2e
TOKEN = "sandbox-access-token"


def sandbox(services: Services, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(services.url("sandbox") + path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def no_dispatcher(services: Services) -> Iterator[None]:
    """The shared dispatcher stopped: the command waits in the queue for the one a test
    starts, and the shared one comes back afterwards."""
    sandbox(services, "/_sandbox/reset", {})
    services.signal("dispatcher")
    yield
    sandbox(services, "/_sandbox/reset", {})
    services.start("dispatcher")


def dispatcher(services: Services, **env: str) -> Services:
    port = free_port()
    own = Services(
        env=services.env | {"DISPATCHER_PORT": str(port)} | env,
        ports={"dispatcher": port},
        log_dir=services.log_dir / f"takeover-{port}",
    )
    own.log_dir.mkdir(exist_ok=True)
    own.start("dispatcher")
    return own


async def died_mid_send(engine: AsyncEngine, nid: str, started_ago: float) -> None:
    """The gate row a holder leaves when killed after claiming: ``claimed``, lease lapsed."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO dispatcher.claims (notification_id, state, owner, lease_until, "
                "attempts, updated_at, attempt_started_at, may_have_sent) VALUES (:id, "
                "'claimed', 'killed-holder', now() - interval '1 second', 1, now(), "
                "now() - make_interval(secs => :ago), true)"
            ),
            {"id": nid, "ago": started_ago},
        )


async def claim_row(engine: AsyncEngine, nid: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text(
                    "SELECT state, wamid, attempts, attempt_started_at "
                    "FROM dispatcher.claims WHERE notification_id = :id"
                ),
                {"id": nid},
            )
        ).one()


async def settled(engine: AsyncEngine, nid: str, within: float) -> Any:
    """The claim row once it is no longer ``claimed`` or ``released`` (or as it is then)."""
    deadline = time.monotonic() + within
    row = await claim_row(engine, nid)
    while row.state in {"claimed", "released"} and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        row = await claim_row(engine, nid)
    return row


async def accepted_wamid(engine: AsyncEngine, nid: str, within: float) -> str | None:
    """The ledger's answer through the dispatcher's own client, once it has one."""
    contract = LedgerAcceptedWamids(engine)
    deadline = time.monotonic() + within
    wamid = await contract.of(UUID(nid))
    while wamid is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        wamid = await contract.of(UUID(nid))
    return wamid


def meta_accepts(services: Services, event: NotificationAccepted, nid: str) -> str:
    """The notification's own request, as the dispatcher makes it, accepted by the sandbox
    (statuses and all): returns the wamid."""
    sender = event.payload.phone_number_id or CoreSettings().whatsapp_phone_number_id
    body = CloudApi.message_body(event.payload.to, event.payload.message, nid)
    answer = httpx.post(
        services.url("sandbox") + f"/v21.0/{sender}/messages",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["messages"][0]["id"])


def received_at(send: dict[str, Any]) -> float:
    return datetime.fromisoformat(send["received_at"]).timestamp()


@pytest.mark.usefixtures("no_dispatcher")
async def test_a_send_meta_accepted_before_the_holder_died_is_not_sent_again(
    services: Services, api_key: str, engine: AsyncEngine
) -> None:
    nid = post(services, api_key, hello(recipient())).json()["id"]
    event = await dispatch_command(engine, nid)
    await died_mid_send(engine, nid, started_ago=2)
    wamid = meta_accepts(services, event, nid)  # what the holder sent before it died
    assert await accepted_wamid(engine, nid, within=20) == wamid  # the webhook reached ledger

    own = await asyncio.to_thread(dispatcher, services, TAKEOVER_GRACE_SECONDS="120")
    try:
        view = await asyncio.to_thread(wait_status, services, api_key, nid, "read", 30)
        row = await settled(engine, nid, within=30)
        await asyncio.sleep(2)  # a second send, if any, would come now
    finally:
        await asyncio.to_thread(own.stop_all)
    assert (row.state, row.wamid) == ("sent", wamid)
    assert len(sandbox_sends(services, nid)) == 1
    assert view["wamid"] == wamid
    assert "sent_by_earlier_attempt" in own.log("dispatcher")


@pytest.mark.usefixtures("no_dispatcher")
async def test_without_any_status_it_is_sent_once_after_the_grace(
    services: Services, api_key: str, engine: AsyncEngine
) -> None:
    grace = 15.0
    nid = post(services, api_key, hello(recipient())).json()["id"]
    await died_mid_send(engine, nid, started_ago=1)  # it died before Meta saw anything
    started = (await claim_row(engine, nid)).attempt_started_at.timestamp()
    assert await accepted_wamid(engine, nid, within=0) is None

    own = await asyncio.to_thread(dispatcher, services, TAKEOVER_GRACE_SECONDS=str(grace))
    try:
        await asyncio.to_thread(wait_status, services, api_key, nid, "read", 40)
        await asyncio.sleep(2)  # a second send, if any, would come now
    finally:
        await asyncio.to_thread(own.stop_all)
    sends = sandbox_sends(services, nid)
    assert len(sends) == 1
    assert received_at(sends[0]) >= started + grace  # not before the grace ended
    row = await claim_row(engine, nid)
    assert (row.state, row.wamid) == ("sent", (await accepted_wamid(engine, nid, 10)))
    assert row.attempts == 2  # the killed holder's and the resend: waiting counts none
    assert "waiting_for_statuses" in own.log("dispatcher")


@pytest.mark.usefixtures("no_dispatcher")
async def test_an_answer_lost_after_meta_accepted_is_not_sent_again(
    services: Services, api_key: str, engine: AsyncEngine
) -> None:
    """The dispatcher gives up waiting for Meta's answer (its timeout) while Meta accepts
    the message: the next attempt finds it in Meta's statuses instead of sending again.
    (The sandbox drops a request whose client went away, so Meta's accept is played by the
    same request sent directly.)"""
    sandbox(services, "/_sandbox/config", {"latency": {"fixed_ms": 1500}})
    own = await asyncio.to_thread(
        dispatcher, services, WHATSAPP_TIMEOUT_SECONDS="0.5", TAKEOVER_GRACE_SECONDS="60"
    )
    try:
        nid = post(services, api_key, hello(recipient())).json()["id"]
        event = await dispatch_command(engine, nid)
        deadline = time.monotonic() + 20
        row = await unconfirmed(engine, nid)
        while row is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            row = await unconfirmed(engine, nid)
        assert row is not None, "a timed-out attempt must be released as unconfirmed"
        wamid = await asyncio.to_thread(meta_accepts, services, event, nid)
        sandbox(services, "/_sandbox/config", {"latency": {"fixed_ms": 0}})
        view = await asyncio.to_thread(wait_status, services, api_key, nid, "read", 40)
        row = await settled(engine, nid, within=30)  # its next turn waits the pair spacing
        await asyncio.sleep(2)  # a second send, if any, would come now
    finally:
        await asyncio.to_thread(own.stop_all)
    sends = sandbox_sends(services, nid)
    assert [s["wamid"] for s in sends] == [wamid]
    assert view["wamid"] == wamid
    types = [h["type"] for h in view["history"]]
    assert "notification.attempt_failed" in types  # the timeout was seen as a failure
    assert (row.state, row.wamid) == ("sent", wamid)
    assert "sent_by_earlier_attempt" in own.log("dispatcher")


async def unconfirmed(engine: AsyncEngine, nid: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text(
                    "SELECT 1 FROM dispatcher.claims WHERE notification_id = :id "
                    "AND unconfirmed_since IS NOT NULL"
                ),
                {"id": nid},
            )
        ).first()
