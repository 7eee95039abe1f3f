"""Pacing sends to Meta's throughput limits, shared by every dispatcher replica through Redis.

- Per sender number: GCRA at the number's rate. Meta's "Rate limit hit"
  (``Reaction.THROTTLE``) lowers that rate by ``decrease_factor`` (at most once a second,
  shared by replicas) and it climbs back linearly, AIMD, so the fleet settles just under
  Meta's real cap. Within one process, sends to Meta also start at most at the cap's pace
  (:meth:`Throttle.spacing`): sends whose slots passed while the process was busy leave one
  after another, not all at once.
- Per (sender, recipient) pair: one message per ``pair_seconds`` with a burst, the recipient
  being who Meta counts (``recipient_key``: every form of one person is one pair). A message
  takes its place in line and waits out of the worker pool (re-queued with a delay), so a
  busy recipient never blocks anyone else. Meta's pair rate limit
  (``Reaction.PAIR_LIMIT``) pushes only that recipient back.

The throttle paces a sender that can send; a sender that cannot is stopped by its circuit
breaker (``breaker.py``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from dispatcher.metrics import SENDER_CAP, SENDER_RATE
from notif_core.identity import recipient_key
from notif_core.ratelimit import RateLimiter

if TYPE_CHECKING:
    from redis.asyncio import Redis

MIN_RATE = 1.0
DECREASE_EVERY = 1.0
INLINE_WAIT = 1.0
"""Waits up to this long happen inside the worker; longer ones go back to the queue."""


@dataclass(frozen=True)
class Admission:
    """The throttle's answer for one message: go after ``wait`` seconds (``limit`` None,
    its place in line is reserved), or come back after ``wait`` because ``limit`` holds it."""

    wait: float
    limit: Literal["pair", "sender"] | None = None


@dataclass(frozen=True)
class ThrottleConfig:
    sender_rate: float = 80.0
    sender_rates: tuple[tuple[str, float], ...] = ()
    pair_seconds: float = 6.0
    pair_burst: int = 1
    pair_margin_seconds: float = 0.5
    """Added to Meta's pair interval: two sends reserved exactly 6 s apart can reach Meta
    closer than that when the first one's claim or connection is slower (seen as Meta's
    pair rate limit)."""
    recovery_per_second: float = 2.0
    """How fast a lowered sender rate climbs back (messages/s gained per second)."""
    decrease_factor: float = 0.8
    """What a 130429 multiplies the sender's rate by. Paced under the cap, a 130429 mostly
    means a few sends arrived bunched (a busy host, a slow network), not a lower cap: halving
    then cost about 400 sends over the next 20 s at 80 mps; repeated 130429s still bring it
    down fast."""
    pace_share: float = 1.0
    """Share of the sender's rate that slots are handed out at."""
    burst_seconds: float = 0.1
    """Slots handed out back to back, in seconds of the paced rate (at least one)."""


class Throttle:
    """``reported``: the messages/s Meta reports for a number (``AccountHealth.throughput``),
    None when it has not said; it sets the cap of every number ``SENDER_RATES`` does not
    name."""

    def __init__(
        self,
        redis: Redis,
        config: ThrottleConfig,
        prefix: str = "dispatch",
        reported: Callable[[str], float | None] | None = None,
    ) -> None:
        self._redis = redis
        self._config = config
        self._reported = reported
        self._named = dict(config.sender_rates)
        self._limiter = RateLimiter(redis, prefix=prefix)
        self._prefix = prefix
        self._next_start: dict[str, float] = {}

    @property
    def config(self) -> ThrottleConfig:
        return self._config

    def cap(self, sender: str) -> float:
        """The sender's cap: its ``SENDER_RATES`` entry, else what Meta reports, else
        ``SENDER_RATE_PER_SECOND``."""
        named = self._named.get(sender)
        if named is not None:
            return named
        reported = self._reported(sender) if self._reported is not None else None
        return reported if reported is not None else self._config.sender_rate

    async def admit(self, sender: str, recipient: str, notification_id: str) -> Admission:
        """The recipient's pair first (its place in line is kept while it waits in the
        queue), then the sender's rate, taken only for a message whose pair lets it go. What
        both read comes in one round trip."""
        held_raw, sent_raw, aimd_raw = await self._redis.mget(
            self._pair_held_key(notification_id),
            self._pair_sent_key(sender, recipient),
            self._aimd_key(sender),
        )
        wait = 0.0
        if self._config.pair_seconds > 0:
            wait = await self._pair_wait(sender, recipient, notification_id, held_raw, sent_raw)
        if wait > INLINE_WAIT:
            return Admission(wait, "pair")
        slot = await self._reserve_sender(sender, self._rate(sender, aimd_raw))
        if slot is None:
            return Admission(INLINE_WAIT, "sender")
        return Admission(max(wait, slot))

    # --- sender rate (AIMD) ----------------------------------------------------------------

    def _aimd_key(self, sender: str) -> str:
        return f"{self._prefix}:aimd:{sender}"

    async def current_rate(self, sender: str) -> float:
        return self._rate(sender, await self._redis.get(self._aimd_key(sender)))

    def _rate(self, sender: str, raw: bytes | str | None) -> float:
        """The sender's rate from its stored ``lowered:at`` (None: never lowered)."""
        cap = self.cap(sender)
        if raw is None:
            return cap
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        lowered, at = (float(x) for x in text.split(":"))
        recovered = lowered + (time.time() - at) * self._config.recovery_per_second
        return min(cap, max(MIN_RATE, recovered))

    def spacing(self, sender: str) -> float:
        """Seconds this process waits before its next send for ``sender`` starts, so that
        its sends start at most at the sender's cap, one after another: a slot only says
        when a send may go, and sends whose slots passed while the process was busy (a
        stall of the event loop, a slow claim) would otherwise reach Meta all at once."""
        now = time.monotonic()
        start = max(now, self._next_start.get(sender, now))
        self._next_start[sender] = start + 1.0 / self.cap(sender)
        return start - now

    async def throttled(self, sender: str) -> float:
        """Meta said the sender is over its cap: lower its rate by ``decrease_factor`` (once
        per second across replicas)."""
        rate = await self.current_rate(sender)
        guard = await self._redis.set(
            f"{self._prefix}:aimd-guard:{sender}", "1", nx=True, px=int(DECREASE_EVERY * 1000)
        )
        if guard:
            rate = max(MIN_RATE, rate * self._config.decrease_factor)
            await self._redis.set(self._aimd_key(sender), f"{rate}:{time.time()}", ex=3600)
        return rate

    async def sender_slot(self, sender: str) -> float | None:
        """Seconds to wait inline for a sender slot, or None: come back later."""
        return await self._reserve_sender(sender, await self.current_rate(sender))

    async def _reserve_sender(self, sender: str, rate: float) -> float | None:
        SENDER_RATE.labels(sender=sender).set(rate)
        SENDER_CAP.labels(sender=sender).set(self.cap(sender))
        paced = rate * self._config.pace_share
        burst = max(1, int(paced * self._config.burst_seconds))
        decision = await self._limiter.reserve(f"sender:{sender}", paced, burst, INLINE_WAIT)
        return decision.retry_after if decision.allowed else None

    # --- recipient pair -------------------------------------------------------------------

    def _pair_sent_key(self, sender: str, recipient: str) -> str:
        return f"{self._prefix}:pair-sent:{sender}:{recipient_key(recipient)}"

    def _pair_held_key(self, notification_id: str) -> str:
        return f"{self._prefix}:pair-held:{notification_id}"

    async def pair_slot(self, sender: str, recipient: str, notification_id: str) -> float:
        """Seconds until this notification may go to this recipient (its place is kept).

        A place in line is reserved ahead of time, but what Meta counts is when sends
        arrive. A send that went out late (a slow claim, a busy host) would leave the next
        one too close, so the wait is also measured from when the last send really ended.
        """
        if self._config.pair_seconds <= 0:
            return 0.0
        held_raw, sent_raw = await self._redis.mget(
            self._pair_held_key(notification_id), self._pair_sent_key(sender, recipient)
        )
        return await self._pair_wait(sender, recipient, notification_id, held_raw, sent_raw)

    async def _pair_wait(
        self,
        sender: str,
        recipient: str,
        notification_id: str,
        held_raw: bytes | str | None,
        sent_raw: bytes | str | None,
    ) -> float:
        """:meth:`pair_slot` once its keys are read: ``held_raw`` the place this
        notification holds, ``sent_raw`` when the pair's last send came back."""
        cfg = self._config
        now = time.time()
        since_sent = (
            float(sent_raw) + cfg.pair_seconds + cfg.pair_margin_seconds - now
            if sent_raw is not None
            else 0.0
        )
        if held_raw is not None:
            return max(0.0, float(held_raw) - now, since_sent)
        decision = await self._limiter.reserve(
            f"pair:{sender}:{recipient_key(recipient)}",
            1.0 / (cfg.pair_seconds + cfg.pair_margin_seconds),
            cfg.pair_burst,
        )
        wait = max(decision.retry_after, since_sent)
        if wait > INLINE_WAIT:
            ttl = int(wait + 3600)
            await self._redis.set(self._pair_held_key(notification_id), str(now + wait), ex=ttl)
        return wait

    async def pair_sent(
        self,
        sender: str,
        recipient: str,
        at: float | None = None,
        *,
        release: str | None = None,
    ) -> None:
        """A send to this recipient came back from Meta at ``at`` (epoch seconds; now by
        default): it arrived by then. Recorded after the gate's commit, with the time Meta
        answered, so the spacing is the same as if it were recorded at once.

        Only with no burst allowed: a burst means back-to-back sends are intended.
        ``release``: a notification whose place in line is no longer needed (it was sent,
        or failed for good), let go in the same round trip.
        """
        cfg = self._config
        record = cfg.pair_seconds > 0 and cfg.pair_burst <= 1
        if not record and release is None:
            return
        pipe = self._redis.pipeline(transaction=False)
        if record:
            ttl = math.ceil(cfg.pair_seconds + cfg.pair_margin_seconds) + 1
            answered = time.time() if at is None else at
            pipe.set(self._pair_sent_key(sender, recipient), str(answered), ex=ttl)
        if release is not None:
            pipe.delete(self._pair_held_key(release))
        await pipe.execute()

    async def pair_limited(self, sender: str, recipient: str, notification_id: str) -> float:
        """Meta said the pair's rate was hit: this recipient only waits one more full pair
        interval."""
        await self._redis.delete(self._pair_held_key(notification_id))
        return await self.pair_slot(sender, recipient, notification_id)

    async def release_pair(self, notification_id: str) -> None:
        await self._redis.delete(self._pair_held_key(notification_id))
