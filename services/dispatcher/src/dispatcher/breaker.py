"""A circuit breaker per sender number, shared by every dispatcher replica through Redis.

Some answers say the sender cannot send at all (``Reaction.BREAKER`` in
``notif_core.meta_codes``: an expired token, a policy block, a number not registered).
Sending its other messages would fail each of them for a fault that is the sender's, so the
breaker opens instead: the sender's messages wait in the queue without using attempts, and
once the probe time comes exactly one send, across replicas, tries. Its success closes the
breaker; another such answer opens it again for twice as long, up to a ceiling.

The throttle (``throttle.py``) paces a sender that can send; the breaker stops one that
cannot.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass(frozen=True)
class BreakerConfig:
    probe_seconds: float = 30.0
    """How long after opening the first probe may go."""
    max_probe_seconds: float = 600.0
    """The ceiling of the doubling probe interval."""


@dataclass(frozen=True)
class BreakerState:
    """An open breaker, as stored in Redis (JSON of these fields)."""

    code: int
    opened_at: float
    next_probe_at: float
    interval: float


class Breaker:
    def __init__(self, redis: Redis, config: BreakerConfig, prefix: str = "dispatch") -> None:
        self._redis = redis
        self._config = config
        self._prefix = prefix

    def _key(self, sender: str) -> str:
        return f"{self._prefix}:breaker:{sender}"

    async def state(self, sender: str) -> BreakerState | None:
        """The sender's open breaker, or None while it is closed."""
        raw = await self._redis.get(self._key(sender))
        return BreakerState(**json.loads(raw)) if raw else None

    async def open(self, sender: str, code: int) -> BreakerState:
        """Open (or keep open, doubling the probe interval) after ``code``."""
        previous = await self.state(sender)
        cfg = self._config
        interval = (
            min(previous.interval * 2, cfg.max_probe_seconds) if previous else cfg.probe_seconds
        )
        now = time.time()
        state = BreakerState(
            code, previous.opened_at if previous else now, now + interval, interval
        )
        await self._redis.set(self._key(sender), json.dumps(asdict(state)))
        return state

    async def close(self, sender: str) -> None:
        await self._redis.delete(self._key(sender))

    async def may_probe(self, sender: str, state: BreakerState) -> bool:
        """Once the probe time came, exactly one send (across replicas) may try."""
        if time.time() < state.next_probe_at:
            return False
        lock = f"{self._prefix}:breaker-probe:{sender}"
        return bool(await self._redis.set(lock, "1", nx=True, px=int(state.interval * 1000)))
