"""API keys: stored hashed, several per tenant, revocation within 5 s, rate limits,
the API_KEYS bootstrap, notifctl, and logs that carry the prefix and never the key."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack, recipient
from tests.e2e.api import hello, post
from tests.e2e.services import Services

from ingest.account.keys import (
    KeyCache,
    bootstrap_keys,
    create_tenant_with_key,
    ensure_tenant,
    generate_key,
    hash_key,
)

pytestmark = pytest.mark.e2e


def notifctl(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("notifctl")), *args],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": stack.database_url},
    )


async def test_keys_are_stored_hashed_with_a_visible_prefix(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        _, key = await create_tenant_with_key(conn, f"hash-{time.time_ns()}")
        row = (
            await conn.execute(
                text("SELECT * FROM ingest.api_keys WHERE key_hash = :h"), {"h": hash_key(key)}
            )
        ).one()
    assert re.fullmatch(r"wn_live_[A-Za-z0-9_-]{43,}", key)
    assert key not in [str(v) for v in row]
    assert row.prefix == key[:12]


def test_notifctl_create_list_rotate_revoke(stack: Stack, services: Services) -> None:
    tenant = f"acme-{time.time_ns()}"
    number = f"{time.time_ns() % 10**15:015d}"  # a number of its own: one tenant per number
    created = notifctl(stack, "keys", "create", "--tenant", tenant, "--phone-number-id", number)
    assert created.returncode == 0, created.stderr
    first = re.search(r"^(wn_live_\S+)$", created.stdout, re.M)
    assert first is not None
    key1 = first.group(1)
    rotated = notifctl(stack, "keys", "rotate", "--tenant", tenant)
    key2_match = re.search(r"^(wn_live_\S+)$", rotated.stdout, re.M)
    assert key2_match is not None
    key2 = key2_match.group(1)
    for key in (key1, key2):  # both work during the rotation
        assert post(services, key, hello(recipient())).status_code == 202
    listing = notifctl(stack, "keys", "list", "--tenant", tenant)
    for key in (key1, key2):
        assert key[:12] in listing.stdout
        assert key not in listing.stdout
    key1_id = re.search(rf"^(\S+) +{re.escape(key1[:12])} ", listing.stdout, re.M)
    assert key1_id is not None
    assert notifctl(stack, "keys", "revoke", key1_id.group(1)).returncode == 0
    deadline = time.monotonic() + 5
    status = 202
    while time.monotonic() < deadline and status != 401:
        status = post(services, key1, hello(recipient())).status_code
        time.sleep(0.2)
    assert status == 401, "a revoked key must stop working within 5 s"
    assert post(services, key2, hello(recipient())).status_code == 202


async def test_requests_arriving_together_share_one_key_lookup(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        tenant_id, key = await create_tenant_with_key(conn, f"flight-{time.time_ns()}")
    lookups: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "api_keys" in statement:
            lookups.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        cache = KeyCache(engine, ttl=0.2)
        first = await asyncio.gather(*(cache.tenant_for(key) for _ in range(40)))
        assert len(lookups) == 1
        await asyncio.sleep(0.3)  # expired: the next burst looks the key up again, once
        again = await asyncio.gather(*(cache.tenant_for(key) for _ in range(40)))
        assert len(lookups) == 2
        unknown = await asyncio.gather(*(cache.tenant_for(key + "x") for _ in range(5)))
        assert len(lookups) == 3
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert {t.id if t else None for t in first + again} == {tenant_id}
    assert unknown == [None] * 5


async def test_api_keys_bootstrap_is_idempotent(engine: AsyncEngine) -> None:
    spec = f"boot-{time.time_ns()}:{generate_key()}"
    async with engine.begin() as conn:
        assert await bootstrap_keys(conn, spec) == 1
        assert await bootstrap_keys(conn, spec) == 0
    with pytest.raises(ValueError, match="API_KEYS entries"):
        async with engine.begin() as conn:
            await bootstrap_keys(conn, "no-colon-here")


async def test_rate_limit_answers_429_with_retry_after(
    services: Services, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        tenant_id, key = await create_tenant_with_key(conn, f"slow-{time.time_ns()}")
        await conn.execute(
            text("UPDATE ingest.tenants SET rate_limit_per_second = 1 WHERE id = :id"),
            {"id": tenant_id},
        )
    url = services.url("ingest") + "/v1/notifications?limit=1"
    codes = []
    for _ in range(260):  # default burst is 200
        response = httpx.get(url, headers={"X-API-Key": key})
        codes.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            assert response.json()["error"]["code"] == "rate_limited"
            break
    assert codes[-1] == 429
    assert set(codes[:-1]) == {200}


def test_logs_carry_the_key_prefix_and_never_the_key(services: Services, api_key: str) -> None:
    to = recipient()
    post(services, api_key, hello(to))
    time.sleep(0.3)
    log = services.log("ingest")
    assert api_key not in log
    assert f'"key_prefix":"{api_key[:12]}"' in log
    assert to not in log
    assert to[:5] + "••••" + to[-3:] in log


async def test_tenant_senders_are_enforced(services: Services, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        number = f"{time.time_ns() % 10**15:015d}"  # a number of its own: one per tenant
        tenant_id = await ensure_tenant(
            conn, f"senders-{time.time_ns()}", phone_number_ids=[number]
        )
        from ingest.account.keys import add_key

        key = await add_key(conn, tenant_id)
    ok = post(services, key, hello(recipient()) | {"phone_number_id": number})
    assert ok.status_code == 202
    wrong = post(services, key, hello(recipient()) | {"phone_number_id": "999999999999999"})
    assert wrong.status_code == 422
    assert wrong.json()["error"] == {
        "code": "unknown_sender",
        "message": "phone_number_id is not one of this tenant's numbers.",
        "field": "phone_number_id",
    }


def test_notifctl_refuses_a_callback_url_the_api_would_refuse(stack: Stack) -> None:
    tenant = f"badhook-{time.time_ns()}"
    args = ("keys", "create", "--tenant", tenant, "--callback-url")
    refused = notifctl(stack, *args, "http://127.0.0.1:99999/hook")
    assert refused.returncode == 2
    assert "callback URL" in refused.stderr
    assert "wn_live_" not in refused.stdout  # no tenant, no key
    accepted = notifctl(stack, *args, "https://client.example/hooks")
    assert accepted.returncode == 0, accepted.stderr
