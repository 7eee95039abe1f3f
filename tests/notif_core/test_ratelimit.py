"""The shared rate limit on a real Valkey: leases cut round trips, never the limit itself."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis
from tests.conftest import Stack

from notif_core.ids import new_id
from notif_core.ratelimit import Decision, LeasedLimiter, RateLimiter


class CountingLimiter(RateLimiter):
    """The real limiter, counting its Redis calls."""

    calls = 0

    async def allow(self, key: str, rate: float, burst: int = 1, cost: int = 1) -> Decision:
        self.calls += 1
        return await super().allow(key, rate, burst, cost)


async def test_a_busy_key_costs_one_round_trip_per_lease(stack: Stack) -> None:
    redis = Redis.from_url(stack.env["REDIS_URL"])
    shared = CountingLimiter(redis, prefix=f"t{new_id().hex[-8:]}")
    leased = LeasedLimiter(shared, lease_seconds=0.05)
    decisions = [await leased.allow("key", rate=1000, burst=2000) for _ in range(200)]
    await redis.aclose()
    assert all(d.allowed for d in decisions)
    assert shared.calls == 4  # leases of 50 = 1000/s x 0.05 s


async def test_replicas_together_never_admit_more_than_the_limit(stack: Stack) -> None:
    redis = Redis.from_url(stack.env["REDIS_URL"])
    shared = RateLimiter(redis, prefix=f"t{new_id().hex[-8:]}")
    replicas = [LeasedLimiter(shared, lease_seconds=0.5) for _ in range(3)]
    rate, burst = 20.0, 10
    started = time.monotonic()
    decisions = await asyncio.gather(
        *(replicas[n % 3].allow("key", rate, burst) for n in range(300))
    )
    elapsed = time.monotonic() - started
    await redis.aclose()
    admitted = sum(d.allowed for d in decisions)
    assert 1 <= admitted <= burst + rate * elapsed + 1
    refused = [d for d in decisions if not d.allowed]
    assert refused
    assert all(d.retry_after > 0 for d in refused)


async def test_an_unspent_lease_is_dropped_after_its_hold(stack: Stack) -> None:
    redis = Redis.from_url(stack.env["REDIS_URL"])
    shared = CountingLimiter(redis, prefix=f"t{new_id().hex[-8:]}")
    leased = LeasedLimiter(shared, lease_seconds=1.0, hold_seconds=0.2)
    assert (await leased.allow("key", rate=10, burst=10)).allowed
    assert shared.calls == 1
    await asyncio.sleep(0.3)
    assert (await leased.allow("key", rate=10, burst=10)).allowed
    await redis.aclose()
    # The nine held tokens were not spent after their hold: back to Redis, where a new lease
    # of ten does not fit (the first took the whole burst), so one token is taken alone.
    assert shared.calls == 3


async def test_a_cost_of_n_takes_n_tokens_from_the_shared_bucket(stack: Stack) -> None:
    """A batch of N notifications costs N, whether or not a lease is held, and the lease's
    tokens are not lost to it."""
    redis = Redis.from_url(stack.env["REDIS_URL"])
    shared = CountingLimiter(redis, prefix=f"t{new_id().hex[-8:]}")
    leased = LeasedLimiter(shared, lease_seconds=0.5, hold_seconds=30)
    rate, burst = 0.01, 100  # nothing refills during the test
    assert (await leased.allow("key", rate, burst)).allowed  # leases 1: rate x 0.5 s < 1
    assert (await leased.allow("key", rate, burst, cost=60)).allowed  # 61 of 100 spent
    refused = await leased.allow("key", rate, burst, cost=40)
    assert not refused.allowed
    assert refused.retry_after > 60  # one token per 100 s
    assert (await leased.allow("key", rate, burst, cost=39)).allowed  # exactly the rest
    assert not (await leased.allow("key", rate, burst)).allowed
    assert shared.calls == 5
    other = LeasedLimiter(shared, lease_seconds=2.0, hold_seconds=30)
    big_rate = 20.0  # leases of 40 tokens; a refill of 20 would take a second
    assert (await other.allow("lease", big_rate, 100)).allowed  # 40 taken, 39 held
    assert (await other.allow("lease", big_rate, 100, cost=30)).allowed  # from the lease
    assert (await other.allow("lease", big_rate, 100, cost=30)).allowed  # 9 left: shared
    assert not (await other.allow("lease", big_rate, 100, cost=50)).allowed  # 70 of 100
    await redis.aclose()
    assert shared.calls == 5 + 3
