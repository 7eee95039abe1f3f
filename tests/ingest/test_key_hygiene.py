"""API keys: bootstrap keys must be strong, revocation names one key by its full id, unknown
keys are cached (boundedly), and a batch costs its key one token per notification."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack
from tests.e2e.services import Services

from ingest.account.keys import (
    KEY_PREFIX,
    KeyCache,
    add_key,
    authenticate,
    bootstrap_keys,
    bootstrap_problem,
    create_tenant_with_key,
    ensure_tenant,
    generate_key,
    hash_key,
    key_weakness,
)
from ingest.settings import IngestSettings
from notif_core.db import libpq_url, make_engine
from notif_core.runtime import refuse_to_start
from notifctl import cli

pytestmark = pytest.mark.e2e

WEAK = {
    "short": KEY_PREFIX + secrets.token_urlsafe(20),
    "one character": KEY_PREFIX + "b" * 43,
    "few characters": KEY_PREFIX + "".join(secrets.choice("abcdefghij") for _ in range(43)),
    "a sequence": KEY_PREFIX + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq",
    "alternating": KEY_PREFIX + "aZ" * 20,
    "a repeated block": KEY_PREFIX + ("Xk3pQ9zLm2Ra7bTc" * 3),
    "outside the alphabet": KEY_PREFIX + secrets.token_urlsafe(32)[:-2] + "+/",
}


def test_generated_keys_always_pass_and_weak_ones_do_not() -> None:
    assert all(key_weakness(generate_key()) is None for _ in range(5_000))
    for label, key in WEAK.items():
        reason = key_weakness(key)
        assert reason is not None, label
        assert key.removeprefix(KEY_PREFIX) not in reason


def test_a_weak_bootstrap_key_is_refused_naming_its_tenant(engine: AsyncEngine) -> None:
    strong = generate_key()
    for label, weak in WEAK.items():
        spec = f"good:{strong},acme-{label.replace(' ', '-')}:{weak}"
        problem = bootstrap_problem(spec)
        assert problem is not None
        assert f"the key of tenant 'acme-{label.replace(' ', '-')}' is too weak" in problem
        assert weak not in problem
        assert weak.removeprefix(KEY_PREFIX) not in problem
    assert bootstrap_problem(f"good:{strong},other:{generate_key()}") is None
    assert bootstrap_problem(None) is None
    assert "entry 2" in (bootstrap_problem(f"good:{strong},no-colon") or "")
    for number in ("12/34", "100000000000001/../me", "١٢٣٤٥٦"):
        bad = bootstrap_problem(f"good:{strong}:{number}")
        assert bad is not None
        assert "tenant 'good'" in bad
        assert "5 to 20 digits" in bad
    assert bootstrap_problem(f"good:{strong}:100000000000001") is None


async def test_bootstrap_adds_nothing_when_one_key_is_weak(engine: AsyncEngine) -> None:
    tenant = f"boot-{time.time_ns()}"
    strong = generate_key()
    with pytest.raises(ValueError, match=f"tenant '{tenant}-2' is too weak"):
        async with engine.begin() as conn:
            await bootstrap_keys(conn, f"{tenant}:{strong},{tenant}-2:{WEAK['a sequence']}")
    async with engine.connect() as conn:
        assert await authenticate(conn, strong) is None
    async with engine.begin() as conn:
        assert await bootstrap_keys(conn, f"{tenant}:{strong}") == 1
        assert await authenticate(conn, strong) is not None


def test_start_up_refuses_a_weak_bootstrap_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``notif-ingest`` runs before serving (the ledger's entry point is run as a
    process in test_production_guards)."""
    monkeypatch.setenv("API_KEYS", f"acme:{WEAK['one character']}")
    settings = IngestSettings()
    assert settings.api_keys is not None
    with pytest.raises(SystemExit) as refused:
        refuse_to_start(settings, bootstrap_problem(settings.api_keys.get_secret_value()))
    assert str(refused.value.code) == (
        "refusing to start: API_KEYS: the key of tenant 'acme' is too weak (its secret part "
        "repeats too few distinct characters); create keys with `notifctl keys create` instead"
    )
    monkeypatch.setenv("API_KEYS", f"acme:{generate_key()}")
    settings = IngestSettings()
    assert settings.api_keys is not None
    refuse_to_start(settings, bootstrap_problem(settings.api_keys.get_secret_value()))


def test_revoke_takes_the_full_id_and_revokes_exactly_that_key(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """notifctl's own code, in this process (each notifctl process spends seconds importing;
    test_api_keys runs the real command)."""
    tenant = f"twins-{time.time_ns()}"
    shared = secrets.token_urlsafe(3)[:4]  # two keys with the same visible prefix
    first, second = (KEY_PREFIX + shared + secrets.token_urlsafe(32) for _ in range(2))
    assert first[:12] == second[:12]

    async def add_twins() -> None:
        engine = make_engine(stack.database_url, pool_size=1, application_name="tests")
        async with engine.begin() as conn:
            tenant_id = await ensure_tenant(conn, tenant)
            await add_key(conn, tenant_id, first)
            await add_key(conn, tenant_id, second)
        await engine.dispose()

    async def active(key: str) -> bool:
        engine = make_engine(stack.database_url, pool_size=1, application_name="tests")
        async with engine.connect() as conn:
            found = await authenticate(conn, key)
        await engine.dispose()
        return found is not None

    def notifctl(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = cli.main(list(args))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    asyncio.run(add_twins())
    code, listing, _ = notifctl("keys", "list", "--tenant", tenant)
    assert code == 0
    ids = re.findall(rf"^([0-9a-f-]{{36}}) +{re.escape(first[:12])} +{tenant} ", listing, re.M)
    assert len(ids) == 2
    assert first not in listing
    assert second not in listing

    code, _, err = notifctl("keys", "revoke", first[:12])
    assert code == 2
    assert "full id" in err
    assert notifctl("keys", "revoke", ids[0][:8])[0] == 2
    assert asyncio.run(active(first))
    assert asyncio.run(active(second))

    first_id = _id_of(stack, first)
    assert first_id in ids
    code, out, _ = notifctl("keys", "revoke", first_id)
    assert code == 0
    assert f"revoked key {first_id} ({first[:12]}…) of tenant '{tenant}'" in out
    assert not asyncio.run(active(first))
    assert asyncio.run(active(second))
    code, out, _ = notifctl("keys", "revoke", first_id)
    assert code == 1
    assert "no active key" in out


def _id_of(stack: Stack, key: str) -> str:
    import psycopg

    with psycopg.connect(libpq_url(stack.database_url)) as conn:
        row = conn.execute(
            "SELECT id FROM ingest.api_keys WHERE key_hash = %s", (hash_key(key),)
        ).fetchone()
    assert row is not None
    return str(row[0])


class Lookups:
    """The key lookups that reach PostgreSQL, counted on the real engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.count = 0

    def __enter__(self) -> Lookups:
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "api_keys" in statement:
            self.count += 1


async def test_unknown_keys_are_cached_and_bounded(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        tenant_id, real = await create_tenant_with_key(conn, f"neg-{time.time_ns()}")
    garbage = generate_key()
    with Lookups(engine) as lookups:
        cache = KeyCache(engine, ttl=60, unknown=50)
        assert await cache.tenant_for(real) is not None
        for _ in range(20):  # one after the other, not together: the cache, not single-flight
            assert await cache.tenant_for(garbage) is None
        assert lookups.count == 2
        assert await cache.tenant_for("not-even-a-key") is None  # never asked
        assert lookups.count == 2
        flood = [generate_key() for _ in range(200)]
        for key in flood:
            assert await cache.tenant_for(key) is None
        assert cache.unknown_cached == 50  # bounded: the oldest went first
        assert lookups.count == 202
        assert await cache.tenant_for(flood[-1]) is None  # recent: still cached
        assert await cache.tenant_for(real) is not None  # the flood did not push it out
        assert lookups.count == 202
        brief = KeyCache(engine, ttl=0.3)
        for _ in range(2):
            assert await brief.tenant_for(garbage) is None
        await asyncio.sleep(0.35)
        assert await brief.tenant_for(garbage) is None  # expired: asked once more
        assert lookups.count == 204
    known = await cache.tenant_for(real)
    assert known is not None
    assert known.id == tenant_id


async def test_a_new_key_works_at_once_and_a_chosen_one_within_the_cache_period(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        tenant_id = await ensure_tenant(conn, f"fresh-{time.time_ns()}")
    cache = KeyCache(engine, ttl=0.5)
    for _ in range(100):
        await cache.tenant_for(generate_key())  # garbage first
    async with engine.begin() as conn:
        created = await add_key(conn, tenant_id)  # what `notifctl keys create` does
    assert await cache.tenant_for(created) is not None  # never seen before: works at once

    chosen = generate_key()  # an operator-chosen key (API_KEYS) presented before it exists
    assert await cache.tenant_for(chosen) is None
    async with engine.begin() as conn:
        await add_key(conn, tenant_id, chosen)
    assert await cache.tenant_for(chosen) is None  # the bound: until the entry expires
    started = time.monotonic()
    while await cache.tenant_for(chosen) is None:
        assert time.monotonic() - started < 1.0
        await asyncio.sleep(0.05)
    assert time.monotonic() - started <= 0.6


def _batch(size: int) -> dict[str, Any]:
    # Items without a recipient: each is rejected alone (nothing sent) but still counted.
    return {"notifications": [{"template": {"name": "hello_world"}}] * size}


async def test_a_batch_costs_one_token_per_notification(
    services: Services, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        tenant_id, key = await create_tenant_with_key(conn, f"batch-{time.time_ns()}")
        await conn.execute(
            text("UPDATE ingest.tenants SET rate_limit_per_second = 1 WHERE id = :id"),
            {"id": tenant_id},
        )
    url = services.url("ingest") + "/v1/notifications/batch"
    headers = {"X-API-Key": key}
    too_big = httpx.post(url, json=_batch(201), headers=headers)  # burst is 200
    assert too_big.status_code == 429, too_big.text
    assert too_big.json()["error"]["code"] == "batch_exceeds_burst"
    assert too_big.json()["error"]["burst"] == 200
    assert int(too_big.headers["Retry-After"]) == 200  # a full bucket at 1/s
    first = httpx.post(url, json=_batch(150), headers=headers)
    assert first.status_code == 202, first.text
    assert {r["status"] for r in first.json()["results"]} == {"rejected"}
    # 1 + 150 of 200 spent: a batch of 60 does not fit, and must wait about 11 s.
    second = httpx.post(url, json=_batch(60), headers=headers)
    assert second.status_code == 429, second.text
    assert second.json()["error"]["code"] == "rate_limited"
    assert 5 <= int(second.headers["Retry-After"]) <= 15
    small = httpx.post(url, json=_batch(30), headers=headers)
    assert small.status_code == 202, small.text
