"""What Meta reports of each sender number and business account, as ingest stores it
(``ingest.sender_health_v1()``), kept in memory and read again every ``REFRESH_SECONDS``
in the background; exported as metrics on each read.

It answers two questions the handler asks on every send, without I/O:

- :meth:`AccountHealth.throughput`: the messages/s Meta allows the number, from its
  throughput level (Meta: "Throughput", developers.facebook.com/documentation/
  business-messaging/whatsapp/throughput: 80 by default, up to 1,000 once upgraded). The
  throttle paces at it unless ``SENDER_RATES`` names the number.
- :meth:`AccountHealth.messaging_limit`: the business portfolio's messaging limit, the
  unique users business-initiated messages may reach in a moving 24 h (Meta: "Messaging
  limits", developers.facebook.com/documentation/business-messaging/whatsapp/
  messaging-limits; per portfolio since October 2025), None for unlimited or not reported.

While ingest's schema cannot be read, the last copy stands (an empty one at start: the
configured caps, and no messaging limit, as before Meta said anything).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from dispatcher.ingest_contract import SENDER_HEALTH
from dispatcher.metrics import (
    ACCOUNT_BAN_STATE,
    ACCOUNT_RESTRICTED,
    MESSAGING_LIMIT,
    MESSAGING_LIMIT_USED,
    SENDER_CAP,
    SENDER_QUALITY,
    SENDER_REPORTED_MPS,
)
from notif_core.logging import get_logger

log = get_logger(__name__)
REFRESH_SECONDS = 5.0
THROUGHPUT_MPS: Mapping[str, float] = {"STANDARD": 80.0, "HIGH": 1000.0}
"""Meta's throughput levels (phone number ``throughput.level``) in messages/s."""
TIERS: Mapping[str, int] = {
    "TIER_50": 50,
    "TIER_250": 250,
    "TIER_1K": 1_000,
    "TIER_2K": 2_000,
    "TIER_10K": 10_000,
    "TIER_100K": 100_000,
}
"""Meta's messaging-limit tiers (``max_daily_conversations_per_business``,
``messaging_limit_tier``); TIER_UNLIMITED and TIER_NOT_SET are no limit."""
UNLIMITED_TIER = "TIER_UNLIMITED"
QUALITY_RATINGS = ("GREEN", "YELLOW", "RED", "UNKNOWN")
RESTRICTIONS = (
    "RESTRICTED_ADD_PHONE_NUMBER_ACTION",
    "RESTRICTED_BIZ_INITIATED_MESSAGING",
    "RESTRICTED_CUSTOMER_INITIATED_MESSAGING",
)
"""``account_update`` ``restriction_info[].restriction_type`` values (Meta: "Webhooks
reference: account_update"), exported at 0 for every account from the start."""
BAN_STATES = ("SCHEDULE_FOR_DISABLE", "DISABLE", "REINSTATE")
"""``account_update`` ``ban_info.waba_ban_state`` values (Meta: "Webhooks reference:
account_update")."""
_HEALTH = text(SENDER_HEALTH)


@dataclass(frozen=True)
class NumberHealth:
    waba_id: str
    quality_rating: str | None
    messaging_limit: str | None
    throughput_level: str | None


@dataclass(frozen=True)
class AccountStanding:
    ban_state: str | None
    restrictions: tuple[tuple[str, datetime | None], ...]
    """(restriction type, expiration) as Meta reported them; None: no end given."""

    def in_force(self, now: datetime) -> list[str]:
        return [kind for kind, ends in self.restrictions if ends is None or ends > now]


def _expiration(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


class AccountHealth:
    """The in-memory copy; ``await health.load()`` once, then ``run()`` in the background."""

    def __init__(
        self,
        engine: AsyncEngine,
        portfolio_of: Callable[[str], str] = str,
        refresh: float = REFRESH_SECONDS,
    ) -> None:
        self._engine = engine
        self._portfolio_of = portfolio_of
        self.cap_of: Callable[[str], float] | None = None
        """The throttle's cap of a number (``Throttle.cap``), exported on each read so the
        cap gauge follows Meta's report without waiting for a send."""
        self._refresh = refresh
        self._numbers: dict[str, NumberHealth] = {}
        self._accounts: dict[str, AccountStanding] = {}

    def throughput(self, sender: str) -> float | None:
        """Messages/s Meta reports for ``sender``; None when it has not said."""
        found = self._numbers.get(sender)
        level = found.throughput_level if found is not None else None
        return THROUGHPUT_MPS.get(level) if level is not None else None

    def messaging_limit(self, sender: str) -> tuple[str, int | None] | None:
        """``sender``'s business portfolio and the unique users it may reach in the window
        (None: no tier yet); None when nothing is to be counted: Meta has said nothing of
        the number, or reports it unlimited. Users are counted under any other tier, and
        before the first, so a tier that appears or drops counts those already reached, as
        Meta does; an unlimited portfolio is not (its set would hold every user of a day,
        a Redis call per send for nothing), and is counted from the moment Meta lowers it."""
        found = self._numbers.get(sender)
        if found is None or found.messaging_limit == UNLIMITED_TIER:
            return None
        return self._portfolio_of(found.waba_id), TIERS.get(found.messaging_limit or "")

    def set(
        self, numbers: Mapping[str, NumberHealth], accounts: Mapping[str, AccountStanding]
    ) -> None:
        """Replace the copy (a read, or a test's facts) and export it."""
        self._numbers = dict(numbers)
        self._accounts = dict(accounts)
        self._export()

    async def load(self) -> None:
        try:
            async with self._engine.connect() as conn:
                rows = (await conn.execute(_HEALTH)).all()
        except Exception as exc:  # keep the last copy; look again after the period
            log.warning("sender_health_not_read", error=type(exc).__name__)
            return
        numbers: dict[str, NumberHealth] = {}
        accounts: dict[str, AccountStanding] = {}
        for row in rows:
            if row.phone_number_id is not None:
                numbers[row.phone_number_id] = NumberHealth(
                    row.waba_id, row.quality_rating, row.messaging_limit, row.throughput_level
                )
            restrictions = row.restrictions if isinstance(row.restrictions, list) else []
            accounts[row.waba_id] = AccountStanding(
                row.ban_state,
                tuple(
                    (str(r.get("type")), _expiration(r.get("expiration")))
                    for r in restrictions
                    if isinstance(r, dict)
                ),
            )
        self.set(numbers, accounts)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            await self.load()

    def _export(self) -> None:
        limits: dict[str, float] = {}
        for sender, number in self._numbers.items():
            rating = number.quality_rating or "UNKNOWN"
            for each in QUALITY_RATINGS:
                SENDER_QUALITY.labels(sender=sender, rating=each).set(int(each == rating))
            mps = self.throughput(sender)
            if mps is not None:
                SENDER_REPORTED_MPS.labels(sender=sender).set(mps)
            if self.cap_of is not None:
                SENDER_CAP.labels(sender=sender).set(self.cap_of(sender))
            portfolio = self._portfolio_of(number.waba_id)
            limit = TIERS.get(number.messaging_limit or "", math.inf)
            limits[portfolio] = min(limit, limits.get(portfolio, math.inf))
        for portfolio, limit in limits.items():
            MESSAGING_LIMIT.labels(portfolio=portfolio).set(limit)
            MESSAGING_LIMIT_USED.labels(portfolio=portfolio)  # 0 until the first place taken
        now = datetime.now(UTC)
        for waba, standing in self._accounts.items():
            in_force = set(standing.in_force(now))
            for kind in {*RESTRICTIONS, *(kind for kind, _ in standing.restrictions)}:
                ACCOUNT_RESTRICTED.labels(waba=waba, restriction=kind).set(int(kind in in_force))
            for state in {*BAN_STATES, standing.ban_state or BAN_STATES[-1]}:
                ACCOUNT_BAN_STATE.labels(waba=waba, state=state).set(
                    int(state == standing.ban_state)
                )
