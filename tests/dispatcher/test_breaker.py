"""The sender's circuit breaker on a real Valkey: opening, doubling, one probe, closing."""

from __future__ import annotations

import asyncio
import json
import time

from redis.asyncio import Redis
from tests.conftest import Stack

from dispatcher.breaker import Breaker, BreakerConfig
from notif_core.ids import new_id

SENDER, OTHER = "100000000000001", "100000000000002"


def breaker(redis: Redis, probe: float = 30.0, ceiling: float = 600.0) -> tuple[Breaker, str]:
    prefix = f"t{new_id().hex[-8:]}"
    return Breaker(redis, BreakerConfig(probe, ceiling), prefix=prefix), prefix


async def test_it_opens_per_sender_and_doubles_up_to_the_ceiling(stack: Stack) -> None:
    redis = Redis.from_url(stack.env["REDIS_URL"])
    brk, prefix = breaker(redis, probe=30.0, ceiling=100.0)
    assert await brk.state(SENDER) is None
    before = time.time()
    first = await brk.open(SENDER, 190)
    second = await brk.open(SENDER, 368)
    third = await brk.open(SENDER, 368)
    raw = await redis.get(f"{prefix}:breaker:{SENDER}")  # the key running deployments hold
    other = await brk.state(OTHER)
    await redis.aclose()
    assert (first.code, first.interval) == (190, 30.0)
    assert before <= first.opened_at <= first.next_probe_at - 30.0 + 0.01
    assert (second.code, second.interval, second.opened_at) == (368, 60.0, first.opened_at)
    assert third.interval == 100.0
    assert isinstance(raw, bytes)
    assert json.loads(raw) == {
        "code": 368,
        "opened_at": first.opened_at,
        "next_probe_at": third.next_probe_at,
        "interval": 100.0,
    }
    assert other is None


async def test_one_probe_once_its_time_came_and_success_closes_it(stack: Stack) -> None:
    redis = Redis.from_url(stack.env["REDIS_URL"])
    brk, _ = breaker(redis, probe=0.3)
    state = await brk.open(SENDER, 133010)
    early = await brk.may_probe(SENDER, state)
    await asyncio.sleep(0.4)
    replicas = await asyncio.gather(*(brk.may_probe(SENDER, state) for _ in range(5)))
    await brk.close(SENDER)
    closed = await brk.state(SENDER)
    await redis.aclose()
    assert early is False
    assert sorted(replicas) == [False, False, False, False, True]
    assert closed is None
