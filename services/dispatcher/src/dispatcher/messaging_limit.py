"""Meta's messaging limit, kept rather than hit: business-initiated templates reach at most
the limit's number of unique users in a moving window, per business portfolio, shared by
every replica through Redis.

Meta caps the unique users a business portfolio reaches with business-initiated messages
(templates outside a customer-service window) in a moving 24 h: 250, 2,000, 10,000,
100,000 or unlimited (Meta: "Messaging limits", developers.facebook.com/documentation/
business-messaging/whatsapp/messaging-limits; per portfolio since October 2025). Meta
documents no error code for a send past it, so it is kept here: one sorted set per
portfolio, its members the users reached (``recipient_key``), scored by when. A user
already reached in the window costs nothing more; a new one takes a place if one is free,
else the send waits until the oldest place frees. Marketing takes new places only up to
``marketing_share`` of the limit, so utility and authentication templates (order updates,
one-time codes) find room when marketing has used its share: marketing is held first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dispatcher.metrics import MESSAGING_LIMIT_USED

if TYPE_CHECKING:
    from redis.asyncio import Redis

MAX_WAIT = 60.0
"""A held send looks again at least this often: places free one by one over the window,
and Meta may raise the tier; a one-time code should not wait minutes for either."""
UNLIMITED = 2**31 - 1
"""The places of a portfolio without a limit: its users are still counted."""

# KEYS[1] = the portfolio's set; ARGV = window (ms), places this send may use, member.
# The server's clock is used, never the replicas'.
_TAKE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  return {1, count, '0'}
end
if count < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window + 60000)
  return {1, count + 1, '0'}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local frees_in = window
if oldest[2] then frees_in = tonumber(oldest[2]) + window - now end
return {0, count, tostring(frees_in)}
"""


@dataclass(frozen=True)
class Place:
    """``taken``: the user is counted in the window (now or already); else ``wait`` seconds
    until a place may free."""

    taken: bool
    used: int
    wait: float = 0.0


class MessagingLimits:
    def __init__(
        self,
        redis: Redis,
        window_seconds: float,
        marketing_share: float,
        prefix: str = "dispatch",
    ) -> None:
        self._take: Any = redis.register_script(_TAKE)
        self._window_ms = int(window_seconds * 1000)
        self._marketing_share = marketing_share
        self._prefix = prefix

    def places(self, limit: int | None, marketing: bool) -> int:
        """The places a send of this kind may fill: the whole limit, or marketing's share
        (at least one, so a tiny limit still lets marketing through); no limit: all."""
        if limit is None:
            return UNLIMITED
        return max(1, math.floor(limit * self._marketing_share)) if marketing else limit

    async def take(self, portfolio: str, user: str, limit: int | None, marketing: bool) -> Place:
        """A place for ``user`` among ``portfolio``'s ``limit`` users of the window (None:
        no limit, the user is only counted)."""
        taken, used, frees_in_ms = await self._take(
            keys=[f"{self._prefix}:messaging-limit:{portfolio}"],
            args=[self._window_ms, self.places(limit, marketing), user],
        )
        MESSAGING_LIMIT_USED.labels(portfolio=portfolio).set(int(used))
        if taken:
            return Place(True, int(used))
        wait = min(MAX_WAIT, max(1.0, float(frees_in_ms) / 1000.0))
        return Place(False, int(used), wait)
