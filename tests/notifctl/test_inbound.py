"""``notifctl inbound``: the operator sets where a tenant receives its customers' messages,
for all its numbers or one, and is refused a number that is not the tenant's or a URL the
deployment's egress policy refuses."""

from __future__ import annotations

import json
import time

from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack
from tests.ingest.test_api_keys import notifctl

from ingest.account.keys import ensure_tenant


async def test_urls_per_tenant_and_per_number(stack: Stack, engine: AsyncEngine) -> None:
    name = f"inbound-{time.time_ns()}"
    number = f"7{time.time_ns() % 10**12:012d}"
    async with engine.begin() as conn:
        await ensure_tenant(conn, name, phone_number_ids=[number])
    done = notifctl(stack, "inbound", "url", "--tenant", name, "https://shop.example/in")
    assert done.returncode == 0, done.stdout + done.stderr
    one = notifctl(
        stack,
        "inbound",
        "url",
        "--tenant",
        name,
        "--phone-number-id",
        number,
        "https://shop.example/this-number",
    )
    assert one.returncode == 0, one.stdout + one.stderr
    shown = json.loads(notifctl(stack, "inbound", "show", "--tenant", name).stdout)
    assert shown == {
        "callback_url": "https://shop.example/in",
        "numbers": {number: "https://shop.example/this-number"},
    }
    foreign = notifctl(
        stack,
        "inbound",
        "url",
        "--tenant",
        name,
        "--phone-number-id",
        "100000000000001",
        "https://shop.example/x",
    )
    assert foreign.returncode == 2
    assert "not one of" in foreign.stdout
    private = notifctl(stack, "inbound", "url", "--tenant", name, "http://10.0.0.7/in")
    assert private.returncode == 2
    assert "refused" in private.stdout
    removed = notifctl(stack, "inbound", "url", "--tenant", name, "--remove")
    assert json.loads(removed.stdout)["callback_url"] is None
