"""The dispatch gate: who may send a notification, decided by one atomic statement.

A dispatcher claims a notification with a lease before calling Meta. Another replica, or a
redelivered SQS message, finds the claim and does not send; a lease that lapsed (its holder
crashed) may be taken over. ``sent`` records the wamid in the same row, so a redelivery
after success republishes the outcome instead of sending again. A claim taken over from a
holder that may have called Meta carries ``unconfirmed_for``: the new holder first looks
for Meta's statuses (``decisions.on_takeover``). Ingest's cancel meets the
dispatcher on this same row (see ``ingest/notifications/cancel.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from notif_core.vocabulary import ClaimState

_CLAIM = text(
    """
    INSERT INTO dispatcher.claims AS c (notification_id, state, owner, lease_until, attempts,
                                        updated_at, attempt_started_at, may_have_sent)
    VALUES (:id, 'claimed', :owner, now() + make_interval(secs => :lease), 1, now(), now(), true)
    ON CONFLICT (notification_id) DO UPDATE
        SET state = 'claimed', owner = :owner, lease_until = EXCLUDED.lease_until,
            attempts = c.attempts + 1, updated_at = now(),
            attempt_started_at = now(), may_have_sent = true,
            unconfirmed_since = CASE WHEN c.state = 'claimed' AND c.may_have_sent
                                     THEN coalesce(c.attempt_started_at, c.updated_at)
                                     ELSE c.unconfirmed_since END
        WHERE c.state = 'released' OR (c.state = 'claimed' AND c.lease_until < now())
    RETURNING attempts, extract(epoch FROM now() - unconfirmed_since) AS unconfirmed_for
    """
)
_FINISH_UNCLAIMED = text("SELECT won FROM dispatcher.end_unclaimed_v1(:id, :state) WHERE won")
"""The statement ingest's cancel also runs (``dispatcher.cancel_v1``), kept once in the
function of migration 0004: ends a missing or ``released`` row, so a claim and an end
before sending never both win. A row only when this call decided it."""
_READ = text(
    "SELECT state, wamid, lease_until, now() AS now FROM dispatcher.claims "
    "WHERE notification_id = :id"
)
_SENT = text(
    "UPDATE dispatcher.claims SET state = 'sent', wamid = :wamid, lease_until = NULL, "
    "updated_at = now() WHERE notification_id = :id"
)
_SETTLE = text(
    "UPDATE dispatcher.claims SET state = :state, lease_until = NULL, updated_at = now(), "
    "attempts = attempts - :refund, "
    "unconfirmed_since = CASE WHEN :unconfirmed THEN attempt_started_at END "
    "WHERE notification_id = :id AND owner = :owner AND state = 'claimed'"
)
_WAIT = text(
    "UPDATE dispatcher.claims SET may_have_sent = false, attempts = attempts - 1, "
    "lease_until = now() + make_interval(secs => :seconds), updated_at = now() "
    "WHERE notification_id = :id AND owner = :owner AND state = 'claimed' RETURNING 1"
)


@dataclass(frozen=True)
class Claim:
    """The outcome of a claim attempt: ours, or the row as someone else left it."""

    won: bool
    state: ClaimState
    attempts: int = 0
    wamid: str | None = None
    lease_seconds_left: float = 0.0
    unconfirmed_for: float | None = None
    """Seconds since an earlier attempt started that may have reached Meta with no answer
    recorded (its holder died mid-send, or Meta's answer was lost); None if there is none."""


class Gate:
    def __init__(self, engine: AsyncEngine, owner: str, lease_seconds: float) -> None:
        self._engine = engine
        self._owner = owner
        self._lease = lease_seconds

    async def claim(self, notification_id: UUID) -> Claim:
        async with self._engine.begin() as conn:
            won = (
                await conn.execute(
                    _CLAIM, {"id": notification_id, "owner": self._owner, "lease": self._lease}
                )
            ).first()
            if won is not None:
                unconfirmed = won.unconfirmed_for
                return Claim(
                    won=True,
                    state=ClaimState.CLAIMED,
                    attempts=int(won.attempts),
                    unconfirmed_for=None if unconfirmed is None else float(unconfirmed),
                )
            row = (await conn.execute(_READ, {"id": notification_id})).one()
        return Claim(
            won=False,
            state=ClaimState(row.state),
            wamid=row.wamid,
            lease_seconds_left=_left(row),
        )

    async def finish_unclaimed(self, notification_id: UUID, state: ClaimState) -> bool:
        """End it (``expired``, or ``failed`` before any send) without a claim: wins
        unless someone already decided its fate."""
        async with self._engine.begin() as conn:
            won = (
                await conn.execute(_FINISH_UNCLAIMED, {"id": notification_id, "state": state})
            ).first()
        return won is not None

    async def sent(self, notification_id: UUID, wamid: str) -> None:
        """Record Meta's wamid: the single statement that closes the double-send window."""
        async with self._engine.begin() as conn:
            await conn.execute(_SENT, {"id": notification_id, "wamid": wamid})

    async def release(
        self, notification_id: UUID, *, refund_attempt: bool = False, unconfirmed: bool = False
    ) -> None:
        """A retryable failure: let the next attempt (or a cancel) take it. A refunded
        attempt does not count (the sender was broken, not the message). ``unconfirmed``:
        Meta may have accepted it all the same (its answer was lost), so the next attempt
        looks for Meta's statuses first."""
        await self._settle(notification_id, ClaimState.RELEASED, int(refund_attempt), unconfirmed)

    async def fail(self, notification_id: UUID) -> None:
        await self._settle(notification_id, ClaimState.FAILED, 0, False)

    async def wait_for_statuses(self, notification_id: UUID, seconds: float) -> bool:
        """Hold the claim ``seconds`` without sending, while an unconfirmed attempt's
        statuses may still arrive: nobody else sends meanwhile, the attempt is not counted,
        and whoever takes the claim next still knows the attempt is unconfirmed. False if
        the claim is no longer ours (its first holder recorded ``sent`` after all)."""
        async with self._engine.begin() as conn:
            held = await conn.execute(
                _WAIT, {"id": notification_id, "owner": self._owner, "seconds": seconds}
            )
            return held.first() is not None

    async def _settle(
        self, notification_id: UUID, state: ClaimState, refund: int, unconfirmed: bool
    ) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                _SETTLE,
                {
                    "id": notification_id,
                    "owner": self._owner,
                    "state": state,
                    "refund": refund,
                    "unconfirmed": unconfirmed,
                },
            )


def _left(row: object) -> float:
    lease_until: datetime | None = getattr(row, "lease_until", None)
    now: datetime = getattr(row, "now")  # noqa: B009 - row attribute named like a builtin
    return max(0.0, (lease_until - now).total_seconds()) if lease_until else 0.0
