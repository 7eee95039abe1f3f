"""Meta's rate limits as token buckets: per sender number, and per (sender, recipient) pair."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

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
