"""Notifications to a business-scoped user id (BSUID), through the whole system: the
dispatcher sends it as ``recipient`` (no ``to``), the sandbox delivers it to a username user
it knows, refuses an unknown one with 131026 and a copy-code authentication template with
131062 (never retried), and a BSUID-only STOP suppresses later sends to that BSUID."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import httpx
import pytest
from aiohttp import web

from ledger.projection import Notification, fold
from notif_core.events import NotificationSent, SentPayload
from notif_core.ids import new_id
from tests.conftest import Stack
from tests.e2e.api import get, hello, post, sandbox_sends, wait_status
from tests.e2e.services import Services
from tests.e2e.test_recipient_identity import inbound, opted_out, reaches, text, window
from tests.wa_sandbox.conftest import TOKEN, Receiver, make_config
from wa_sandbox.app import RunningSandbox

pytestmark = pytest.mark.e2e

_serial = itertools.count(1)


def bsuid() -> str:
    """A fresh BSUID per test: the sandbox and the ledger outlive a test."""
    return f"US.{time.time_ns() % 10**12:012d}{next(_serial):04d}Bs"


def otp(to: str) -> dict[str, Any]:
    """The sandbox's ``otp_code``: an authentication template with a copy-code button."""
    code = [{"type": "text", "text": "482913"}]
    return {
        "to": to,
        "template": {
            "name": "otp_code",
            "language": "en_US",
            "category": "authentication",
            "components": [
                {"type": "body", "parameters": code},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": code},
            ],
        },
    }


def test_a_text_to_a_known_username_user_goes_by_recipient_and_is_read(
    stack: Stack, services: Services, api_key: str
) -> None:
    user = bsuid()
    inbound(services, user_id=user, username="@ana", text="hi")
    window(stack, user)
    response = post(services, api_key, text(f"  {user} "))
    assert response.status_code == 202, response.text
    nid = response.json()["id"]
    reaches(services, api_key, nid)
    view = wait_status(services, api_key, nid, "read", timeout=15)
    assert view["to"] == user
    (sent,) = sandbox_sends(services, nid)
    assert sent["body"]["recipient"] == user
    assert "to" not in sent["body"]


def test_an_unknown_bsuid_fails_with_metas_code(services: Services, api_key: str) -> None:
    response = post(services, api_key, hello(bsuid()))
    assert response.status_code == 202, response.text
    nid = response.json()["id"]
    view = wait_status(services, api_key, nid, "failed", timeout=15)
    assert view["last_error"]["code"] == 131026
    assert len(sandbox_sends(services, nid)) == 1  # Meta was asked, and said no


def test_a_copy_code_template_to_a_bsuid_fails_131062_without_retries(
    services: Services, api_key: str
) -> None:
    user = bsuid()
    inbound(services, user_id=user, text="hi")  # a user the sandbox knows: still refused
    response = post(services, api_key, otp(user))
    assert response.status_code == 202, response.text
    nid = response.json()["id"]
    view = wait_status(services, api_key, nid, "failed", timeout=15)
    assert view["last_error"]["code"] == 131062
    assert view["attempts"] == 0
    assert "notification.attempt_failed" not in {h["type"] for h in view["history"]}
    assert sandbox_sends(services, nid) == []
    rejected = httpx.get(services.url("sandbox") + "/_sandbox/stats").json()["rejected"]
    assert rejected.get("131062", 0) >= 1


def test_neither_a_number_nor_a_bsuid_is_422(services: Services, api_key: str) -> None:
    for to in ("hello", "us.13491208655302741918", "US.1349-1208"):
        response = post(services, api_key, {"to": to, "text": {"body": "hi"}})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "to"
    batch = httpx.post(
        services.url("ingest") + "/v1/notifications/batch",
        json={"notifications": [hello(bsuid()), hello("US.not-one")]},
        headers={"X-API-Key": api_key},
    )
    assert batch.status_code == 202, batch.text
    first, second = batch.json()["results"]
    assert first["status"] == "accepted"
    assert (second["status"], second["error"]["field"]) == ("rejected", "to")


def test_a_bsuid_only_stop_suppresses_sends_to_that_bsuid(
    stack: Stack, services: Services, api_key: str
) -> None:
    user = bsuid()
    inbound(services, user_id=user, username="@bo", text="STOP")
    opted_out(stack, user)
    response = post(services, api_key, text(user))
    assert response.status_code == 202, response.text
    nid = response.json()["id"]
    wait_status(services, api_key, nid, "suppressed", timeout=15)
    assert sandbox_sends(services, nid) == []
    assert get(services, api_key, nid)["to"] == user


def test_a_bsuid_answered_as_itself_keeps_the_number_it_was_paired_with() -> None:
    """The ledger records who Meta answered for a send (``contacts[].user_id``), but a BSUID
    naming itself must not replace the number an inbound message paired it with."""
    user, nid = bsuid(), new_id()
    state = Notification(id=nid, recipient=user)
    sent = NotificationSent(
        producer="test", notification_id=nid, payload=SentPayload(wamid="wamid.x", user_id=user)
    )
    assert fold(state, nid, sent).alias is None
    parent = "US.ENT." + user.removeprefix("US.")
    state = Notification(id=nid, recipient=parent)
    alias = fold(state, nid, sent).alias
    assert alias is not None
    assert (alias.alias, alias.key) == (parent, user)


async def test_the_sandbox_answers_a_bsuid_send_as_partners_report_meta_does() -> None:
    """``recipient`` instead of ``to`` (``to`` wins when both are there), contacts with
    ``user_id`` and no ``wa_id``, statuses with ``recipient_user_id`` (and ``recipient_id``
    only for a user who shared a number), window and pair limit keyed by the BSUID."""
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/webhook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    receiver.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/webhook"
    lone, paired, number = bsuid(), bsuid(), "14155550177"
    running = RunningSandbox(make_config(receiver))
    try:
        async with running, httpx.AsyncClient(base_url=running.url, timeout=10) as http:

            async def send(body: dict[str, Any]) -> httpx.Response:
                return await http.post(
                    "/v21.0/100000000000001/messages",
                    json={"messaging_product": "whatsapp", "type": "text"} | body,
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )

            for who in ({"user_id": lone}, {"user_id": paired, "from": number}):
                assert (await http.post("/_sandbox/inbound", json=who | {"text": "hi"})).is_success
            hi = {"text": {"body": "hi"}}
            first = await send({"recipient": lone} | hi)
            assert first.status_code == 200, first.text
            assert first.json()["contacts"] == [{"input": lone, "user_id": lone}]
            again = await send({"recipient": lone} | hi)
            assert again.json()["error"]["code"] == 131056  # the pair is the BSUID's
            both = await send({"recipient": paired, "to": "+1 415 555 0199"} | hi)
            assert both.json()["contacts"] == [{"input": "+1 415 555 0199", "wa_id": "14155550199"}]
            shared = await send({"recipient": paired} | hi)
            assert shared.json()["contacts"] == [{"input": paired, "user_id": paired}]
            bad = await send({"recipient": "us.1349"} | hi)
            assert (bad.status_code, bad.json()["error"]["code"]) == (400, 100)
            otp_body = otp("")["template"]
            otp_body["language"] = {"code": "en_US"}
            refused = await send({"recipient": paired, "type": "template", "template": otp_body})
            assert refused.json()["error"]["code"] == 131062

            lone_wamid = first.json()["messages"][0]["id"]
            shared_wamid = shared.json()["messages"][0]["id"]
            await receiver.wait_for(
                lambda: (
                    len(receiver.statuses_of(lone_wamid)) == 3
                    and len(receiver.statuses_of(shared_wamid)) == 3
                )
            )
            for s in receiver.statuses_of(lone_wamid):
                assert s["recipient_user_id"] == lone
                assert "recipient_id" not in s
                assert s["status"] != "failed"  # the window opened under the BSUID
            for s in receiver.statuses_of(shared_wamid):
                assert (s["recipient_user_id"], s["recipient_id"]) == (paired, number)
    finally:
        await runner.cleanup()
