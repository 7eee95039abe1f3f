"""Rate limits shared by every replica: GCRA in one atomic Lua call on Redis.

GCRA (the generic cell rate algorithm) keeps one timestamp per key, the "theoretical
arrival time", so a limit costs one small key and one round trip, and replicas agree because
Redis evaluates the script atomically. The server's clock is used, never the callers'.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

# KEYS[1] = key; ARGV = emission interval (ms), burst tolerance (ms), cost
_GCRA = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - tolerance - interval
if allow_at > now then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now + interval))
return {1, 0}
"""


# Like _GCRA, but a request that must wait takes its place in line (when the wait is at most
# ARGV[4] ms): it returns the wait, and the caller sends after it without asking again.
_RESERVE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance - interval
local wait = allow_at - now
if wait < 0 then wait = 0 end
if wait > max_wait then
  return {0, wait}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now + interval))
return {1, wait}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float
    """Seconds until this request would be allowed (0 when allowed)."""


class RateLimiter:
    """``allow(key, rate, burst)``: at most ``rate``/s on average, ``burst`` at once."""

    def __init__(self, redis: Redis, prefix: str = "rl") -> None:
        self._redis = redis
        self._prefix = prefix
        self._script: Any = redis.register_script(_GCRA)
        self._reserve: Any = redis.register_script(_RESERVE)

    async def allow(self, key: str, rate: float, burst: int = 1, cost: int = 1) -> Decision:
        interval_ms = 1000.0 / rate
        tolerance_ms = interval_ms * (max(burst, 1) - 1)
        allowed, wait_ms = await self._script(
            keys=[f"{self._prefix}:{key}"], args=[interval_ms, tolerance_ms, cost]
        )
        return Decision(bool(allowed), float(wait_ms) / 1000.0)

    async def reserve(
        self, key: str, rate: float, burst: int = 1, max_wait: float = float("inf")
    ) -> Decision:
        """Take the next free slot if it comes within ``max_wait`` seconds.

        ``allowed`` with ``retry_after`` = how long to wait before sending (the slot is held);
        not ``allowed``: the wait was longer than ``max_wait`` and nothing was taken.
        """
        interval_ms = 1000.0 / rate
        tolerance_ms = interval_ms * (max(burst, 1) - 1)
        max_wait_ms = min(max_wait * 1000.0, 10.0**12)
        allowed, wait_ms = await self._reserve(
            keys=[f"{self._prefix}:{key}"], args=[interval_ms, tolerance_ms, max_wait_ms]
        )
        return Decision(bool(allowed), float(wait_ms) / 1000.0)


class LeasedLimiter:
    """:class:`RateLimiter` for hot paths: tokens taken from Redis a few at a time.

    Each replica takes up to ``lease_seconds`` worth of a key's rate in one GCRA call (cost
    N) and spends it locally, so a busy key costs one Redis round trip per lease instead of
    one per request (that round trip was a sixth of ingest's CPU per request). Tokens are
    taken from the shared bucket before they are spent, so replicas together never admit
    more than the limit; a lease unspent after ``hold_seconds`` is dropped, which can only
    make the limit stricter, and only by the leases held.
    """

    def __init__(
        self, limiter: RateLimiter, lease_seconds: float = 0.05, hold_seconds: float = 1.0
    ) -> None:
        self._limiter = limiter
        self._lease_seconds = lease_seconds
        self._hold_seconds = hold_seconds
        self._budgets: dict[str, tuple[int, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def allow(self, key: str, rate: float, burst: int = 1, cost: int = 1) -> Decision:
        """``cost`` tokens at once (a batch of N notifications costs N): from the local
        lease when it holds that many, else in one GCRA call of that cost, which never
        admits more than ``burst`` at once."""
        if self._spend(key, cost):
            return _ALLOWED
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if self._spend(key, cost):  # another request refilled it meanwhile
                return _ALLOWED
            if cost > 1:  # no lease for it: the shared bucket pays, the lease stays as it is
                return await self._limiter.allow(key, rate, burst, cost=cost)
            size = max(1, min(max(burst, 1), math.ceil(rate * self._lease_seconds)))
            decision = await self._limiter.allow(key, rate, burst, cost=size)
            if not decision.allowed and size > 1:  # not room for a lease: for this one?
                size = 1
                decision = await self._limiter.allow(key, rate, burst)
            if not decision.allowed:
                return decision
            self._budgets[key] = (size - 1, time.monotonic() + self._hold_seconds)
            return _ALLOWED

    def _spend(self, key: str, cost: int = 1) -> bool:
        tokens, until = self._budgets.get(key, (0, 0.0))
        if tokens <= 0 or time.monotonic() > until:
            self._budgets.pop(key, None)
            return False
        if tokens < cost:
            return False
        self._budgets[key] = (tokens - cost, until)
        return True


_ALLOWED = Decision(True, 0.0)
