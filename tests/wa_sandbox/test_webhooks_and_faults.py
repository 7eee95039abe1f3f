"""Webhooks out (signed, priced, batched, retried, duplicated, reordered) and injected faults."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from tests.wa_sandbox.conftest import PHONE_ID, Client, Receiver
from tests.wa_sandbox.test_send_endpoint import error_of, template


async def test_statuses_arrive_signed_priced_and_in_order(
    sandbox: Client, receiver: Receiver
) -> None:
    response = await sandbox.send(template("hello_world") | {"biz_opaque_callback_data": "notif-1"})
    wamid = response.json()["messages"][0]["id"]
    await receiver.wait_for(lambda: len(receiver.statuses_of(wamid)) == 3)
    assert receiver.all_signed()
    statuses = receiver.statuses_of(wamid)
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    for s in statuses:
        assert s["biz_opaque_callback_data"] == "notif-1"
        assert s["recipient_id"] == "14155550101"
        assert s["pricing"]["category"] == "utility"
        assert s["pricing"]["pricing_model"] == "PMP"
        assert s["pricing"]["billable"] is True
        assert s["conversation"]["origin"] == {"type": "utility"}
    body = receiver.bodies()[0]
    assert body["object"] == "whatsapp_business_account"
    assert body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] == PHONE_ID


async def test_read_ratio_zero_stops_at_delivered(sandbox: Client, receiver: Receiver) -> None:
    await sandbox.configure({"webhooks": {"read_ratio": 0}})
    wamid = (await sandbox.send(template("hello_world"))).json()["messages"][0]["id"]
    await receiver.wait_for(lambda: len(receiver.statuses_of(wamid)) == 2)
    await asyncio.sleep(0.1)
    assert [s["status"] for s in receiver.statuses_of(wamid)] == ["sent", "delivered"]


async def test_duplicates_and_reordering(sandbox: Client, receiver: Receiver) -> None:
    await sandbox.configure(
        {"webhooks": {"duplicate_ratio": 1, "reorder_ratio": 1, "read_ratio": 0}}
    )
    wamid = (await sandbox.send(template("hello_world"))).json()["messages"][0]["id"]
    await receiver.wait_for(lambda: len(receiver.statuses_of(wamid)) == 4)
    kinds = [s["status"] for s in receiver.statuses_of(wamid)]
    assert sorted(kinds) == ["delivered", "delivered", "sent", "sent"]
    assert kinds[0] == "delivered"  # delivered overtook sent


async def test_non_200_is_retried_with_backoff(sandbox: Client, receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    await sandbox.configure({"webhooks": {"read_ratio": 0, "delivered_delay": 5}})
    wamid = (await sandbox.send(template("hello_world"))).json()["messages"][0]["id"]
    await receiver.wait_for(lambda: len(receiver.posts) >= 3)
    assert len(receiver.statuses_of(wamid)) == 3  # the same sent status, three times
    stats = (await sandbox.http.get("/_sandbox/stats")).json()
    assert stats["webhooks"]["retried"] == 2
    assert stats["webhooks"]["delivered"] == 1


async def test_statuses_due_together_share_one_post(sandbox: Client, receiver: Receiver) -> None:
    sender = sandbox.running.sandbox.config.senders[0].model_dump() | {"throughput_mps": 1000}
    await sandbox.configure(
        {
            "senders": [sender],
            "pair_limit": {"per_seconds": 0},
            "webhooks": {"read_ratio": 0, "batch_window": 0.5},
        }
    )
    sends = await asyncio.gather(
        *(sandbox.send(template("hello_world") | {"to": f"1415555{i:04d}"}) for i in range(20))
    )
    assert all(r.status_code == 200 for r in sends)
    await receiver.wait_for(
        lambda: sum(len(receiver.statuses_of(r.json()["messages"][0]["id"])) for r in sends) == 40
    )
    assert len(receiver.posts) < 40
    largest = max(len(b["entry"][0]["changes"][0]["value"]["statuses"]) for b in receiver.bodies())
    assert largest > 1


@pytest.mark.parametrize(
    ("fault", "status", "code"), [("error_500", 500, 131000), ("error_503", 503, 131016)]
)
async def test_server_error_faults(sandbox: Client, fault: str, status: int, code: int) -> None:
    await sandbox.configure({"faults": {fault: 1}})
    response = await sandbox.send(template("hello_world"))
    assert response.status_code == status
    assert error_of(response)["code"] == code
    assert (await sandbox.http.get("/_sandbox/messages")).json() == {"messages": []}


async def test_connection_reset_fault(sandbox: Client) -> None:
    await sandbox.configure({"faults": {"connection_reset": 1}})
    with pytest.raises(httpx.TransportError):
        await sandbox.send(template("hello_world"))


async def test_timeout_fault_holds_then_drops(sandbox: Client) -> None:
    await sandbox.configure({"faults": {"timeout": 1, "timeout_seconds": 0.3}})
    started = time.monotonic()
    with pytest.raises(httpx.TransportError):
        await sandbox.send(template("hello_world"))
    assert time.monotonic() - started >= 0.3


async def test_inspection_stats_reset_and_metrics(sandbox: Client) -> None:
    ok = await sandbox.send(template("hello_world") | {"biz_opaque_callback_data": "n-1"})
    await sandbox.send(
        template("hello_world") | {"to": "14155550102", "biz_opaque_callback_data": "n-2"}
    )
    await sandbox.send(template("no_such"))
    by_callback = (
        await sandbox.http.get("/_sandbox/messages", params={"biz_opaque_callback_data": "n-1"})
    ).json()
    assert [m["wamid"] for m in by_callback["messages"]] == [ok.json()["messages"][0]["id"]]
    by_to = (await sandbox.http.get("/_sandbox/messages", params={"to": "+14155550102"})).json()
    assert [m["biz_opaque_callback_data"] for m in by_to["messages"]] == ["n-2"]
    stats = (await sandbox.http.get("/_sandbox/stats")).json()
    assert stats["accepted"] == 2
    assert stats["rejected"] == {"132001": 1}
    metrics = (await sandbox.http.get("/metrics")).text
    assert 'wa_sandbox_sends_total{outcome="132001"}' in metrics
    assert (await sandbox.http.post("/_sandbox/reset")).json() == {"status": "reset"}
    assert (await sandbox.http.get("/_sandbox/stats")).json()["accepted"] == 0
    assert (await sandbox.http.get("/_sandbox/messages")).json() == {"messages": []}


async def test_invalid_config_is_refused_and_changes_nothing(sandbox: Client) -> None:
    before = (await sandbox.http.get("/_sandbox/config")).json()
    for bad in (
        {"faults": {"error_500": 2}},
        {"faults": {"error_500": 0.6, "error_503": 0.6}},
        {"nope": 1},
    ):
        response = await sandbox.configure(bad)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_config"
    assert (await sandbox.http.get("/_sandbox/config")).json() == before


def test_config_file_and_env_overrides(tmp_path: object) -> None:
    from pathlib import Path

    from wa_sandbox.config import load

    path = Path(str(tmp_path)) / "sandbox.toml"
    path.write_text(
        'app_secret = "s"\nwebhook_url = "http://127.0.0.1:1/w"\n'
        '[[senders]]\nphone_number_id = "1"\ndisplay_phone_number = "1555"\n'
        'access_token = "t"\nthroughput_mps = 1000\n'
    )
    config = load(path, env={"SANDBOX_PORT": "4000", "SANDBOX_TIME_SCALE": "0.1"})
    assert config.port == 4000
    assert config.webhooks.time_scale == 0.1
    assert config.senders[0].throughput_mps == 1000
    assert json.loads(config.model_dump_json())["templates"] == []
