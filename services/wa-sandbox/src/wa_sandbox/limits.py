"""Meta's rate limits as token buckets (per sender number, and per (sender, recipient)
pair), and the messaging limit, which the sandbox counts but does not enforce."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wa_sandbox.config import MessagingLimit

BURST_SECONDS = 0.1
"""A sender's bucket holds 0.1 s of its cap, so a burst cannot overshoot a second's worth."""


@dataclass
class TokenBucket:
    rate: float
    capacity: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.capacity
        self.updated = self.clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class SenderLimits:
    """One bucket per sender number at its configured messages per second."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, phone_number_id: str, mps: float) -> bool:
        bucket = self._buckets.get(phone_number_id)
        if bucket is None or bucket.rate != mps:
            bucket = TokenBucket(mps, max(1.0, mps * BURST_SECONDS), self._clock)
            self._buckets[phone_number_id] = bucket
        return bucket.take()

    def reset(self) -> None:
        self._buckets.clear()


class PairLimits:
    """``burst`` messages, then one per ``per_seconds``, from one sender to one recipient."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def allow(self, sender: str, recipient: str, per_seconds: float, burst: int) -> bool:
        if per_seconds <= 0:
            return True
        key = (sender, recipient)
        rate = 1.0 / per_seconds
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate or bucket.capacity != burst:
            bucket = TokenBucket(rate, float(burst), self._clock)
            self._buckets[key] = bucket
            if len(self._buckets) > 100_000:
                self._prune(per_seconds * burst)
        return bucket.take()

    def _prune(self, idle_seconds: float) -> None:
        now = self._clock()
        self._buckets = {k: b for k, b in self._buckets.items() if now - b.updated < idle_seconds}

    def reset(self) -> None:
        self._buckets.clear()


TIER_LIMITS: dict[MessagingLimit, int | None] = {
    "TIER_NOT_SET": None,
    "TIER_50": 50,
    "TIER_250": 250,
    "TIER_1K": 1_000,
    "TIER_2K": 2_000,
    "TIER_10K": 10_000,
    "TIER_100K": 100_000,
    "TIER_UNLIMITED": None,
}
"""Unique users per moving 24 h for each tier (Meta: Messaging limits; TIER_NOT_SET has no
figure from Meta, so it is assumed to be no limit)."""


@dataclass
class _Account:
    """One business account's counted recipients: when each was first counted in the
    current window, and the same in time order so expiry is cheap."""

    tier: MessagingLimit
    counted: dict[str, float] = field(default_factory=dict)
    order: deque[tuple[float, str]] = field(default_factory=deque)
    over_limit: int = 0

    def expire(self, now: float, window: float) -> None:
        order, counted = self.order, self.counted
        while order and order[0][0] <= now - window:
            _, who = order.popleft()
            counted.pop(who, None)


class MessagingLimitCounter:
    """Unique recipients of business-initiated sends per business account in a moving
    window, and the sends that went beyond the tier.

    Meta caps the unique users a business portfolio can start conversations with (a
    template outside a customer-service window) in a moving 24 h (Meta: Messaging limits,
    per portfolio since October 2025). Meta documents no error code for exceeding it, so
    the sandbox only counts: tests read the counts from ``GET /_sandbox/stats``. Counted
    per WABA (assumed: the sandbox has no portfolios, one WABA stands for one)."""

    def __init__(self) -> None:
        self._accounts: dict[str, _Account] = {}

    def record(
        self, waba_id: str, recipient: str, tier: MessagingLimit, now: float, window: float
    ) -> bool:
        """Count a business-initiated send; True when it adds a recipient beyond the limit."""
        account = self._accounts.get(waba_id)
        if account is None:
            account = self._accounts[waba_id] = _Account(tier)
        account.tier = tier  # the sending number's tier is the portfolio's
        account.expire(now, window)
        if recipient in account.counted:
            return False
        account.counted[recipient] = now
        account.order.append((now, recipient))
        limit = TIER_LIMITS[tier]
        if limit is not None and len(account.counted) > limit:
            account.over_limit += 1
            return True
        return False

    def snapshot(self, now: float, window: float) -> dict[str, dict[str, Any]]:
        """Per WABA: the tier, its limit (None: none), unique recipients in the window and
        the over-limit sends since the last reset."""
        found: dict[str, dict[str, Any]] = {}
        for waba_id, account in self._accounts.items():
            account.expire(now, window)
            found[waba_id] = {
                "tier": account.tier,
                "limit": TIER_LIMITS[account.tier],
                "unique_recipients": len(account.counted),
                "over_limit": account.over_limit,
            }
        return found

    def reset(self) -> None:
        self._accounts.clear()
