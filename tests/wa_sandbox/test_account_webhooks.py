"""The control API's template and account-health events: signed webhooks of Meta's other
fields, and what they change in the running sandbox."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.wa_sandbox.conftest import PHONE_ID, WABA_ID, Client, Receiver
from tests.wa_sandbox.test_send_endpoint import error_of, template

BODY_1 = [{"type": "body", "parameters": [{"type": "text", "text": "A-1"}]}]


async def control(sandbox: Client, path: str, body: dict[str, Any]) -> Any:
    return await sandbox.http.post(f"/_sandbox/{path}", json=body)


async def one_change(receiver: Receiver, field_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    await receiver.wait_for(lambda: len(receiver.changes(field_name)) == 1)
    (change,) = receiver.changes(field_name)
    return change


async def test_pausing_a_template_sends_a_signed_status_update_and_fails_sends(
    sandbox: Client, receiver: Receiver
) -> None:
    await sandbox.configure({"pair_limit": {"per_seconds": 0}})
    assert (await sandbox.send(template("order_update", BODY_1))).status_code == 200
    before = time.time()
    response = await control(
        sandbox,
        "templates/status",
        {"name": "order_update", "language": "en_US", "status": "PAUSED"},
    )
    assert response.status_code == 202, response.text
    tpl = sandbox.running.sandbox.config.template("order_update", "en_US")
    assert tpl is not None
    assert tpl.status == "PAUSED"
    expected = {
        "event": "PAUSED",
        "message_template_id": int(tpl.id),
        "message_template_name": "order_update",
        "message_template_language": "en_US",
        "reason": "NONE",
        "message_template_category": "UTILITY",
    }
    assert response.json() == {"field": "message_template_status_update", "value": expected}
    entry, value = await one_change(receiver, "message_template_status_update")
    assert receiver.all_signed()
    assert value == expected
    assert isinstance(value["message_template_id"], int)
    assert entry["id"] == WABA_ID
    assert before - 1 <= entry["time"] <= time.time() + 1
    (body,) = [b for b in receiver.bodies() if "time" in b["entry"][0]]
    assert body["object"] == "whatsapp_business_account"
    paused = await sandbox.send(template("order_update", BODY_1))
    assert paused.status_code == 400
    assert error_of(paused)["code"] == 132015
    listed = (
        await sandbox.http.get(
            f"/v21.0/{WABA_ID}/message_templates",
            headers={"Authorization": "Bearer sandbox-access-token"},
        )
    ).json()["data"]
    assert [t["status"] for t in listed if t["name"] == "order_update"] == ["PAUSED"]


async def test_reinstating_and_disabling(sandbox: Client, receiver: Receiver) -> None:
    await sandbox.configure({"pair_limit": {"per_seconds": 0}})
    for status in ("DISABLED", "REINSTATED"):
        body = {"name": "order_update", "language": "en_US", "status": status}
        assert (await control(sandbox, "templates/status", body)).status_code == 202
        if status == "DISABLED":
            disabled = await sandbox.send(template("order_update", BODY_1))
            assert error_of(disabled)["code"] == 132016
    assert (await sandbox.send(template("order_update", BODY_1))).status_code == 200
    await receiver.wait_for(lambda: len(receiver.changes("message_template_status_update")) == 2)
    first, second = (v for _, v in receiver.changes("message_template_status_update"))
    assert first["event"] == "DISABLED"
    assert isinstance(first["disable_info"]["disable_date"], int)
    assert second["event"] == "REINSTATED"
    assert "disable_info" not in second


async def test_reset_restores_the_configured_status(sandbox: Client) -> None:
    body = {"name": "hello_world", "language": "en_US", "status": "REJECTED", "reason": "SCAM"}
    assert (await control(sandbox, "templates/status", body)).json()["value"]["reason"] == "SCAM"
    assert error_of(await sandbox.send(template("hello_world")))["code"] == 132001
    await sandbox.http.post("/_sandbox/reset")
    assert (await sandbox.send(template("hello_world"))).status_code == 200


async def test_status_requests_are_checked(sandbox: Client, receiver: Receiver) -> None:
    unknown = await control(
        sandbox, "templates/status", {"name": "nope", "language": "en_US", "status": "PAUSED"}
    )
    assert unknown.status_code == 404
    assert "error" in unknown.json()
    bad = await control(
        sandbox,
        "templates/status",
        {"name": "hello_world", "language": "en_US", "status": "SLEEPING"},
    )
    assert bad.status_code == 400
    not_json = await sandbox.http.post("/_sandbox/templates/status", content=b"[")
    assert not_json.status_code == 400
    await asyncio.sleep(0.1)
    assert receiver.changes("message_template_status_update") == []
    template_now = sandbox.running.sandbox.config.template("hello_world", "en_US")
    assert template_now is not None
    assert template_now.status == "APPROVED"


async def test_a_category_change_is_announced_and_priced(
    sandbox: Client, receiver: Receiver
) -> None:
    response = await control(
        sandbox,
        "templates/category",
        {"name": "order_update", "language": "en_US", "category": "MARKETING"},
    )
    assert response.status_code == 202, response.text
    entry, value = await one_change(receiver, "template_category_update")
    tpl = sandbox.running.sandbox.config.template("order_update", "en_US")
    assert tpl is not None
    assert tpl.category == "marketing"
    assert entry["id"] == WABA_ID
    assert value == {
        "message_template_id": int(tpl.id),
        "message_template_name": "order_update",
        "message_template_language": "en_US",
        "previous_category": "UTILITY",
        "new_category": "MARKETING",
    }
    wamid = (await sandbox.send(template("order_update", BODY_1))).json()["messages"][0]["id"]
    await receiver.wait_for(lambda: len(receiver.statuses_of(wamid)) >= 1)
    assert receiver.statuses_of(wamid)[0]["pricing"]["category"] == "marketing"


async def test_an_impending_category_change_changes_nothing_yet(
    sandbox: Client, receiver: Receiver
) -> None:
    body = {"name": "order_update", "language": "en_US", "category": "marketing"}
    response = await control(sandbox, "templates/category", body | {"impending": True})
    assert response.status_code == 202
    _, value = await one_change(receiver, "template_category_update")
    assert (value["correct_category"], value["new_category"]) == ("MARKETING", "UTILITY")
    assert value["category_update_timestamp"] > time.time()
    tpl = sandbox.running.sandbox.config.template("order_update", "en_US")
    assert tpl is not None
    assert tpl.category == "utility"


async def test_a_quality_downgrade_is_announced_and_lowers_the_cap(
    sandbox: Client, receiver: Receiver
) -> None:
    await sandbox.configure({"pair_limit": {"per_seconds": 0}})
    response = await control(
        sandbox,
        f"senders/{PHONE_ID}/quality",
        {
            "event": "DOWNGRADE",
            "current_limit": "TIER_UNLIMITED",
            "quality_rating": "RED",
            "throughput_mps": 1,
        },
    )
    assert response.status_code == 202, response.text
    entry, value = await one_change(receiver, "phone_number_quality_update")
    assert receiver.all_signed()
    assert entry["id"] == WABA_ID
    assert value == {
        "display_phone_number": "15550001111",
        "event": "DOWNGRADE",
        "current_limit": "TIER_UNLIMITED",
        "max_daily_conversations_per_business": "TIER_UNLIMITED",
    }  # the default.toml number's limit already: no old_limit
    sender = sandbox.running.sandbox.config.sender(PHONE_ID)
    assert sender is not None
    assert (sender.throughput_mps, sender.quality_rating) == (1, "RED")
    sends = [
        await sandbox.send(template("hello_world") | {"to": f"1415555{i:04d}"}) for i in range(5)
    ]
    codes = [r.status_code for r in sends]
    assert codes[0] == 200
    assert [error_of(r)["code"] for r in sends[1:]] == [130429] * 4


async def test_a_limit_change_carries_the_old_limit(sandbox: Client, receiver: Receiver) -> None:
    path = f"senders/{PHONE_ID}/quality"
    for limit in ("TIER_10K", "TIER_100K"):
        body = {"event": "UPGRADE", "current_limit": limit}
        assert (await control(sandbox, path, body)).status_code == 202
    await receiver.wait_for(lambda: len(receiver.changes("phone_number_quality_update")) == 2)
    values = sorted(
        (v for _, v in receiver.changes("phone_number_quality_update")),
        key=lambda v: v["current_limit"] != "TIER_10K",
    )
    assert [(v["old_limit"], v["current_limit"]) for v in values] == [
        ("TIER_UNLIMITED", "TIER_10K"),  # default.toml's number
        ("TIER_10K", "TIER_100K"),
    ]
    sender = sandbox.running.sandbox.config.sender(PHONE_ID)
    assert sender is not None
    assert sender.throughput_mps == 80  # untouched without throughput_mps


async def test_quality_requests_are_checked(sandbox: Client) -> None:
    unknown = await control(sandbox, "senders/999/quality", {"event": "FLAGGED"})
    assert unknown.status_code == 404
    for bad in (
        {"event": "EXPLODED"},
        {"event": "FLAGGED", "current_limit": "TIER_3"},
        {"event": "FLAGGED", "throughput_mps": 0},
    ):
        response = await control(sandbox, f"senders/{PHONE_ID}/quality", bad)
        assert response.status_code == 400, bad


async def test_an_account_update_carries_its_extras(sandbox: Client, receiver: Receiver) -> None:
    restriction = [
        {
            "restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
            "expiration": "2026-04-19T13:59:20+0000",
        }
    ]
    response = await control(
        sandbox, "account", {"event": "ACCOUNT_RESTRICTION", "restriction_info": restriction}
    )
    assert response.status_code == 202
    entry, value = await one_change(receiver, "account_update")
    assert entry["id"] == WABA_ID
    assert value == {"event": "ACCOUNT_RESTRICTION", "restriction_info": restriction}
    assert receiver.all_signed()
    missing = await control(sandbox, "account", {"violation_info": {"violation_type": "SCAM"}})
    assert missing.status_code == 400


async def test_changes_are_retried_like_statuses(sandbox: Client, receiver: Receiver) -> None:
    receiver.statuses = [500]
    await control(sandbox, "account", {"event": "ACCOUNT_VIOLATION"})
    await receiver.wait_for(lambda: len(receiver.changes("account_update")) == 2)
    stats = (await sandbox.http.get("/_sandbox/stats")).json()
    assert (stats["webhooks"]["retried"], stats["webhooks"]["delivered"]) == (1, 1)
