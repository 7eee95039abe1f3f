"""Meta's phone-number reads over real HTTP: ``GET /{version}/{waba_id}/phone_numbers``
(paged, field-selected) and ``GET /{version}/{phone_number_id}``, and what the control
API's quality events change in them."""

from __future__ import annotations

from typing import Any

import httpx
from tests.wa_sandbox.conftest import PHONE_ID, TOKEN, WABA_ID, Client, Receiver
from tests.wa_sandbox.test_send_endpoint import error_of

SECOND_ID = "100000000000002"
THIRD_ID = "100000000000003"
OTHER_WABA = "200000000000002"


async def read(sandbox: Client, path: str, token: str = TOKEN, **query: str) -> httpx.Response:
    return await sandbox.http.get(
        f"/v21.0/{path}", params=query, headers={"Authorization": f"Bearer {token}"}
    )


async def add_senders(sandbox: Client) -> None:
    """Two more numbers in the default WABA (one of them high-throughput), one elsewhere."""
    first = sandbox.running.sandbox.config.senders[0].model_dump()
    senders: list[dict[str, Any]] = [
        first,
        {
            **first,
            "phone_number_id": SECOND_ID,
            "display_phone_number": "15550100001",
            "throughput_mps": 1000,
            "messaging_limit": "TIER_10K",
            "quality_rating": "YELLOW",
        },
        {**first, "phone_number_id": THIRD_ID, "display_phone_number": "447700900123"},
        {
            **first,
            "phone_number_id": "100000000000009",
            "display_phone_number": "4915112345678",
            "waba_id": OTHER_WABA,
        },
    ]
    response = await sandbox.configure({"senders": senders})
    assert response.status_code == 200, response.text


async def test_listing_pages_through_the_accounts_numbers(sandbox: Client) -> None:
    await add_senders(sandbox)
    pages: list[dict[str, Any]] = []
    response = await read(sandbox, f"{WABA_ID}/phone_numbers", limit="1")
    while True:
        assert response.status_code == 200, response.text
        pages.append(response.json())
        following = pages[-1]["paging"].get("next")
        if following is None:
            break
        assert following.startswith(sandbox.running.url + "/v21.0/")
        response = await sandbox.http.get(following, headers={"Authorization": f"Bearer {TOKEN}"})
    assert [n["id"] for p in pages for n in p["data"]] == [PHONE_ID, SECOND_ID, THIRD_ID]
    assert all(len(p["data"]) == 1 for p in pages)
    assert "previous" not in pages[0]["paging"]
    assert all("previous" in p["paging"] for p in pages[1:])
    assert set(pages[1]["paging"]["cursors"]) == {"before", "after"}
    back = await read(
        sandbox,
        f"{WABA_ID}/phone_numbers",
        limit="1",
        before=pages[1]["paging"]["cursors"]["before"],
    )
    assert [n["id"] for n in back.json()["data"]] == [PHONE_ID]
    second = pages[1]["data"][0]
    assert second == {
        "id": SECOND_ID,
        "display_phone_number": "+1 555-010-0001",
        "verified_name": "Sandbox Business",
        "quality_rating": "YELLOW",
        "messaging_limit_tier": "TIER_10K",
        "throughput": {"level": "HIGH"},
        "platform_type": "CLOUD_API",
        "code_verification_status": "VERIFIED",
    }
    assert pages[0]["data"][0]["throughput"] == {"level": "STANDARD"}  # 80 mps
    assert pages[2]["data"][0]["display_phone_number"] == "+44 7700 900123"
    other = (await read(sandbox, f"{OTHER_WABA}/phone_numbers")).json()
    assert [n["id"] for n in other["data"]] == ["100000000000009"]
    assert other["data"][0]["display_phone_number"] == "+49 1511 2345678"
    assert "next" not in other["paging"]


async def test_a_bad_cursor_is_100(sandbox: Client) -> None:
    response = await read(sandbox, f"{WABA_ID}/phone_numbers", after="bm90LWEtY3Vyc29y")
    assert response.status_code == 400
    assert error_of(response)["code"] == 100


async def test_fields_select_and_the_id_always_comes(sandbox: Client) -> None:
    listed = await read(
        sandbox, f"{WABA_ID}/phone_numbers", fields="display_phone_number,throughput"
    )
    assert listed.status_code == 200, listed.text
    (number,) = listed.json()["data"]
    assert number == {
        "id": PHONE_ID,
        "display_phone_number": "+1 555-000-1111",
        "throughput": {"level": "STANDARD"},
    }
    one = await read(sandbox, PHONE_ID, fields="quality_rating")
    assert one.json() == {"id": PHONE_ID, "quality_rating": "GREEN"}


async def test_a_single_number_is_one_object(sandbox: Client) -> None:
    await add_senders(sandbox)
    response = await read(sandbox, SECOND_ID)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == SECOND_ID
    assert body["messaging_limit_tier"] == "TIER_10K"
    assert body["throughput"] == {"level": "HIGH"}
    assert "data" not in body
    by_query_token = await sandbox.http.get(f"/v21.0/{PHONE_ID}", params={"access_token": TOKEN})
    assert by_query_token.json()["id"] == PHONE_ID
    unknown = await read(sandbox, "123456789")
    assert unknown.status_code == 400
    error = error_of(unknown)
    assert (error["code"], error["error_subcode"], error["type"]) == (
        100,
        33,
        "GraphMethodException",
    )


async def test_a_wrong_token_is_190(sandbox: Client) -> None:
    for path in (f"{WABA_ID}/phone_numbers", PHONE_ID):
        response = await read(sandbox, path, token="not-a-token")
        assert response.status_code == 401, response.text
        assert error_of(response)["code"] == 190
        assert error_of(response)["type"] == "OAuthException"


async def test_an_unknown_waba_is_answered_as_the_catalogue_answers_it(sandbox: Client) -> None:
    """Consistent with ``message_templates``: an id the sandbox does not know is 100/33;
    a known account without numbers lists none."""
    numbers = await read(sandbox, "299999999999999/phone_numbers")
    templates = await read(sandbox, "299999999999999/message_templates")
    assert numbers.status_code == templates.status_code == 400
    assert error_of(numbers)["code"] == error_of(templates)["code"] == 100
    assert error_of(numbers)["error_subcode"] == 33
    first = sandbox.running.sandbox.config.senders[0].model_dump()
    await sandbox.configure({"senders": [{**first, "waba_id": OTHER_WABA}]})
    empty = await read(sandbox, f"{WABA_ID}/phone_numbers")
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"data": []}
    moved = await read(sandbox, f"{OTHER_WABA}/phone_numbers")
    assert [n["id"] for n in moved.json()["data"]] == [PHONE_ID]


async def test_a_downgrade_shows_in_the_read(sandbox: Client, receiver: Receiver) -> None:
    first = sandbox.running.sandbox.config.senders[0].model_dump()
    await sandbox.configure({"senders": [{**first, "throughput_mps": 1000}]})
    assert (await read(sandbox, PHONE_ID)).json()["throughput"] == {"level": "HIGH"}
    response = await sandbox.http.post(
        f"/_sandbox/senders/{PHONE_ID}/quality",
        json={
            "event": "DOWNGRADE",
            "current_limit": "TIER_1K",
            "quality_rating": "RED",
            "throughput_mps": 80,
        },
    )
    assert response.status_code == 202, response.text
    after = (await read(sandbox, PHONE_ID)).json()
    assert after["throughput"] == {"level": "STANDARD"}
    assert after["quality_rating"] == "RED"
    assert after["messaging_limit_tier"] == "TIER_1K"
    (listed,) = (await read(sandbox, f"{WABA_ID}/phone_numbers")).json()["data"]
    assert listed == after
    await receiver.wait_for(lambda: len(receiver.changes("phone_number_quality_update")) == 1)


async def test_a_numbers_webhooks_carry_its_account(sandbox: Client, receiver: Receiver) -> None:
    first = sandbox.running.sandbox.config.senders[0].model_dump()
    await sandbox.configure({"senders": [{**first, "waba_id": OTHER_WABA}]})
    path = f"/_sandbox/senders/{PHONE_ID}/quality"
    assert (await sandbox.http.post(path, json={"event": "FLAGGED"})).status_code == 202
    inbound = await sandbox.http.post(
        "/_sandbox/inbound", json={"from": "4915112345600", "text": "hi"}
    )
    assert inbound.status_code == 200, inbound.text
    await receiver.wait_for(lambda: len(receiver.bodies()) == 2)
    assert {body["entry"][0]["id"] for body in receiver.bodies()} == {OTHER_WABA}


async def test_other_get_routes_are_not_shadowed(sandbox: Client) -> None:
    config = await sandbox.http.get("/_sandbox/config")
    assert config.status_code == 200
    assert config.json()["waba_id"] == WABA_ID
    assert (await sandbox.http.get("/_sandbox/stats")).json()["accepted"] == 0
    assert (await sandbox.http.get("/health")).json() == {"status": "healthy"}
    assert (await sandbox.http.get("/metrics")).status_code == 200
    assert (await sandbox.http.get("/_sandbox/messages")).json() == {"messages": []}
    not_a_version = await sandbox.http.get(f"/latest/{PHONE_ID}", params={"access_token": TOKEN})
    assert not_a_version.status_code == 404
