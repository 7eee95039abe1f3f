"""Throughput cap, pair rate limit, the 24h window, undeliverable and opted-out recipients."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from tests.wa_sandbox.conftest import Client, Receiver
from tests.wa_sandbox.test_send_endpoint import error_of, template, text


async def test_throughput_cap_answers_130429_then_recovers(sandbox: Client) -> None:
    await sandbox.configure(
        {
            "senders": [
                {**sandbox.running.sandbox.config.senders[0].model_dump(), "throughput_mps": 20}
            ],
            "pair_limit": {"per_seconds": 0},
        }
    )
    started = time.monotonic()
    answers = await asyncio.gather(*(sandbox.send(template("hello_world")) for _ in range(30)))
    elapsed = time.monotonic() - started
    accepted = [r for r in answers if r.status_code == 200]
    limited = [r for r in answers if r.status_code != 200]
    # A burst of 0.1 s of the cap (2), plus what refilled while the 30 were answered.
    assert 1 <= len(accepted) <= 2 + int(20 * elapsed) + 1, elapsed
    assert {error_of(r)["code"] for r in limited} == {130429}
    await asyncio.sleep(0.25)
    assert (await sandbox.send(template("hello_world"))).status_code == 200


async def test_pair_limit_hits_only_that_recipient(sandbox: Client) -> None:
    first = await sandbox.send(template("hello_world"))
    assert first.status_code == 200
    again = await sandbox.send(template("hello_world"))
    assert (again.status_code, error_of(again)["code"]) == (400, 131056)
    other = await sandbox.send(template("hello_world") | {"to": "14155550199"})
    assert other.status_code == 200
    await sandbox.configure({"pair_limit": {"per_seconds": 0.2, "burst": 2}})
    await asyncio.sleep(0.45)
    assert (await sandbox.send(template("hello_world"))).status_code == 200


async def test_text_outside_the_window_fails_async_with_131047(
    sandbox: Client, receiver: Receiver
) -> None:
    response = await sandbox.send(text())
    assert response.status_code == 200
    wamid = response.json()["messages"][0]["id"]
    await receiver.wait_for(lambda: receiver.statuses_of(wamid))
    (failed,) = receiver.statuses_of(wamid)
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 131047


async def test_window_failure_can_be_synchronous(sandbox: Client) -> None:
    await sandbox.configure({"policy": {"window_failure": "sync"}})
    response = await sandbox.send(text())
    assert (response.status_code, error_of(response)["code"]) == (400, 131047)


async def test_inbound_opens_the_window_and_text_is_free_service(
    sandbox: Client, receiver: Receiver
) -> None:
    inbound = await sandbox.http.post(
        "/_sandbox/inbound", json={"from": "+1 415 555 0101", "text": "hello"}
    )
    assert inbound.status_code == 200
    await receiver.wait_for(
        lambda: any(
            "messages" in c["value"]
            for b in receiver.bodies()
            for e in b["entry"]
            for c in e["changes"]
        )
    )
    value = receiver.bodies()[0]["entry"][0]["changes"][0]["value"]
    assert value["messages"][0]["from"] == "14155550101"
    assert value["messages"][0]["text"] == {"body": "hello"}
    assert value["contacts"][0]["wa_id"] == "14155550101"
    response = await sandbox.send(text())
    wamid = response.json()["messages"][0]["id"]
    await receiver.wait_for(lambda: len(receiver.statuses_of(wamid)) == 3)
    statuses = receiver.statuses_of(wamid)
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    assert statuses[0]["pricing"] == {
        "billable": False,
        "pricing_model": "PMP",
        "category": "service",
        "type": "free_customer_service",
    }


async def test_undeliverable_recipients_fail_async_with_131026(
    sandbox: Client, receiver: Receiver
) -> None:
    await sandbox.configure({"policy": {"undeliverable": ["14155550177"]}})
    for to in ("14155550177", "15550001234"):  # listed, and under the default prefix
        response = await sandbox.send(template("hello_world") | {"to": to})
        assert response.status_code == 200
        wamid = response.json()["messages"][0]["id"]
        await receiver.wait_for(lambda w=wamid: receiver.statuses_of(w))
        (status,) = receiver.statuses_of(wamid)
        assert (status["status"], status["errors"][0]["code"]) == ("failed", 131026)


async def test_marketing_opt_out_fails_marketing_only(sandbox: Client, receiver: Receiver) -> None:
    await sandbox.configure(
        {"policy": {"marketing_opt_outs": ["14155550101"]}, "pair_limit": {"per_seconds": 0}}
    )
    body = [{"type": "body", "parameters": [{"type": "text", "text": "20%"}]}]
    marketing = (await sandbox.send(template("spring_sale", body))).json()["messages"][0]["id"]
    utility = (await sandbox.send(template("hello_world"))).json()["messages"][0]["id"]
    await receiver.wait_for(
        lambda: receiver.statuses_of(marketing) and len(receiver.statuses_of(utility)) == 3
    )
    (status,) = receiver.statuses_of(marketing)
    assert (status["status"], status["errors"][0]["code"]) == ("failed", 131050)
    assert [s["status"] for s in receiver.statuses_of(utility)] == ["sent", "delivered", "read"]


async def test_latency_is_fixed_plus_jitter(sandbox: Client) -> None:
    await sandbox.configure({"latency": {"fixed_ms": 150, "jitter_ms": 50}})
    started = time.monotonic()
    await sandbox.send(template("hello_world"))
    assert 0.15 <= time.monotonic() - started < 1.0


def _messages(receiver: Receiver) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every inbound message webhook item, with the contacts of its change."""
    return [
        (m, c["value"].get("contacts", []))
        for b in receiver.bodies()
        for e in b["entry"]
        for c in e["changes"]
        for m in c["value"].get("messages", [])
    ]


@pytest.mark.parametrize(
    ("inbound_from", "to"),
    [("558287654321", "+5582987654321"), ("5215587654321", "+525587654321")],
)
async def test_the_window_follows_the_id_whatever_form_was_dialled(
    sandbox: Client, receiver: Receiver, inbound_from: str, to: str
) -> None:
    await sandbox.configure(
        {"policy": {"window_failure": "sync"}, "pair_limit": {"per_seconds": 0}}
    )
    before = await sandbox.send(text(to))
    assert error_of(before)["code"] == 131047
    opened = await sandbox.http.post("/_sandbox/inbound", json={"from": inbound_from, "text": "hi"})
    assert opened.json()["wa_id"] == inbound_from
    await receiver.wait_for(lambda: len(_messages(receiver)) == 1)
    assert _messages(receiver)[0][0]["from"] == inbound_from
    after = await sandbox.send(text(to))
    assert after.status_code == 200, after.text
    assert after.json()["contacts"][0]["wa_id"] == inbound_from


async def test_pair_limit_counts_one_person_in_any_form(sandbox: Client) -> None:
    first = await sandbox.send(template("hello_world") | {"to": "+525587650000"})
    assert first.status_code == 200
    second = await sandbox.send(template("hello_world") | {"to": "+5215587650000"})
    assert error_of(second)["code"] == 131056


async def test_a_username_user_writes_with_a_bsuid_and_no_number(
    sandbox: Client, receiver: Receiver
) -> None:
    bsuid = "US.13491208655302741918"
    response = await sandbox.http.post(
        "/_sandbox/inbound", json={"user_id": bsuid, "username": "@jane", "text": "STOP"}
    )
    assert response.status_code == 200
    await receiver.wait_for(lambda: len(_messages(receiver)) == 1)
    message, contacts = _messages(receiver)[0]
    assert "from" not in message
    assert message["from_user_id"] == bsuid
    assert contacts == [
        {"profile": {"name": "Sandbox User", "username": "@jane"}, "user_id": bsuid}
    ]


async def test_a_number_change_is_a_system_message(sandbox: Client, receiver: Receiver) -> None:
    response = await sandbox.http.post(
        "/_sandbox/inbound", json={"from": "+525512340000", "changed_number_to": "+525512349999"}
    )
    assert response.json()["wa_id"] == "5215512349999"
    await receiver.wait_for(lambda: len(_messages(receiver)) == 1)
    message, contacts = _messages(receiver)[0]
    assert message["type"] == "system"
    assert message["from"] == "5215512340000"
    assert message["system"]["type"] == "user_changed_number"
    assert message["system"]["wa_id"] == "5215512349999"
    assert contacts == []
