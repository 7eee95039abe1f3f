"""Rate limits shared by every replica: GCRA in one atomic Lua call on Redis.

GCRA (the generic cell rate algorithm) keeps one timestamp per key, the "theoretical
arrival time", so a limit costs one small key and one round trip, and replicas agree because
Redis evaluates the script atomically. The server's clock is used, never the callers'.
"""

from __future__ import annotations

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
