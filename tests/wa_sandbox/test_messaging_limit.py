"""The messaging limit over real HTTP: business-initiated template sends counted per
business account in a moving window, never refused (Meta documents no error for it)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.wa_sandbox.conftest import WABA_ID, Client
from tests.wa_sandbox.test_send_endpoint import template, text

WINDOW = 3.0


def to(n: int) -> str:
    return f"4915112{n:06d}"


async def limits(sandbox: Client) -> dict[str, Any]:
    response = await sandbox.http.get("/_sandbox/stats")
    assert response.status_code == 200
    found: dict[str, Any] = response.json()["messaging_limits"]
    return found


async def tier_50(sandbox: Client) -> None:
    """A TIER_50 sender fast enough not to be throttled, no pair limit, a short window."""
    first = sandbox.running.sandbox.config.senders[0].model_dump()
    response = await sandbox.configure(
        {
            "senders": [{**first, "messaging_limit": "TIER_50", "throughput_mps": 10_000}],
            "pair_limit": {"per_seconds": 0},
            "policy": {"messaging_limit_window_seconds": WINDOW},
        }
    )
    assert response.status_code == 200, response.text


async def send_templates(sandbox: Client, recipients: list[str]) -> None:
    answers = [await sandbox.send(template("hello_world") | {"to": r}) for r in recipients]
    assert [a.status_code for a in answers] == [200] * len(recipients)


async def test_sends_beyond_the_tier_are_counted_not_refused(sandbox: Client) -> None:
    await tier_50(sandbox)
    assert await limits(sandbox) == {}
    await send_templates(sandbox, [to(n) for n in range(52)])
    assert await limits(sandbox) == {
        WABA_ID: {"tier": "TIER_50", "limit": 50, "unique_recipients": 52, "over_limit": 2}
    }
    await send_templates(sandbox, [to(0), to(51)])  # counted already: not again
    counted = (await limits(sandbox))[WABA_ID]
    assert (counted["unique_recipients"], counted["over_limit"]) == (52, 2)
    stats = (await sandbox.http.get("/_sandbox/stats")).json()
    assert stats["accepted"] == 54
    assert set(stats) >= {"accepted", "rejected", "webhooks", "messaging_limits"}


async def test_an_open_window_and_free_form_messages_do_not_count(sandbox: Client) -> None:
    await tier_50(sandbox)
    inbound = await sandbox.http.post(
        "/_sandbox/inbound", json={"from": "+49 1511 2000001", "text": "hi"}
    )
    assert inbound.status_code == 200, inbound.text
    await send_templates(sandbox, ["4915112000001"])  # inside the customer-service window
    assert (await sandbox.send(text(to(7)))).status_code == 200  # free-form: not initiated
    assert await limits(sandbox) == {}
    await send_templates(sandbox, [to(8)])
    assert (await limits(sandbox))[WABA_ID]["unique_recipients"] == 1


async def test_the_count_rolls_off_after_the_window(sandbox: Client) -> None:
    await tier_50(sandbox)
    await send_templates(sandbox, [to(n) for n in range(51)])
    assert (await limits(sandbox))[WABA_ID]["over_limit"] == 1
    await asyncio.sleep(WINDOW / 2)
    await send_templates(sandbox, [to(100)])  # counted in the second half of the window
    assert (await limits(sandbox))[WABA_ID]["over_limit"] == 2
    await asyncio.sleep(WINDOW / 2 + 0.2)
    rolled = (await limits(sandbox))[WABA_ID]
    assert rolled == {"tier": "TIER_50", "limit": 50, "unique_recipients": 1, "over_limit": 2}
    await send_templates(sandbox, [to(0)])  # counted again: a new recipient in this window
    assert (await limits(sandbox))[WABA_ID]["unique_recipients"] == 2
    assert (await limits(sandbox))[WABA_ID]["over_limit"] == 2


async def test_unlimited_tiers_and_reset(sandbox: Client) -> None:
    first = sandbox.running.sandbox.config.senders[0].model_dump()
    await sandbox.configure(
        {
            "senders": [
                {**first, "messaging_limit": "TIER_UNLIMITED", "waba_id": "200000000000002"}
            ],
            "pair_limit": {"per_seconds": 0},
        }
    )
    await send_templates(sandbox, [to(n) for n in range(3)])
    assert await limits(sandbox) == {
        "200000000000002": {
            "tier": "TIER_UNLIMITED",
            "limit": None,
            "unique_recipients": 3,
            "over_limit": 0,
        }
    }
    assert (await sandbox.http.post("/_sandbox/reset")).status_code == 200
    assert await limits(sandbox) == {}
