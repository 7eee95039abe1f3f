"""Exponential backoff with full jitter, shared by Meta send retries and customer callbacks."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """uniform(0, min(cap, base * 2**(attempt-1))): full jitter spreads a burst of failures
    out instead of retrying them in lockstep."""

    base_seconds: float
    cap_seconds: float
    max_attempts: int

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        return (rng or random).uniform(0, ceiling)
