"""What the dispatcher must know about a recipient before sending: opt-outs and the 24h
window, from the ledger's read models (``ledger_contract.py``), and ingest's mark of the
latest inbound message and of every inbound it acknowledged (``ingest_contract.py``), which
tell how far the ledger lags on this recipient.

The read models trail Meta's webhooks by the projection lag (webhook, outbox relay, events
queue, ledger batch). :class:`RecipientFacts` keeps both sides so the handler can tell a
certain answer from one the ledger has not caught up with. Rows are looked up by
``notif_core.identity.recipient_key``, the key ingest marks and the ledger projects under,
and the opt-outs of an erased person by the key's pseudonym (``notif_core.erasure``).
Opt-outs are per sender number: the sender's own rows count, never another number's (the
ledger writes no row for "every sender"; ledger migration 0010 turned the old ones into
rows of the default sender, which is what they always stood for).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from dispatcher import ingest_contract, ledger_contract
from notif_core.erasure import deployment_pseudonym

WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class RecipientFacts:
    suppressed: bool
    """The ledger holds an opt-out in force (for marketing, a marketing one counts too)."""
    projected_inbound_at: datetime | None
    """The ledger's window: the latest inbound the ledger has projected."""
    marked_inbound_at: datetime | None = None
    """Ingest's mark: the latest inbound ingest has acknowledged."""
    mark_age_seconds: float | None = None
    """How long ago ingest acknowledged that inbound."""
    unprojected_age_seconds: float | None = None
    """How long ago ingest acknowledged the newest inbound whose event the ledger has not
    stored yet; None: it has stored every one."""

    def behind_for(self) -> float | None:
        """Seconds since ingest acknowledged the newest inbound the ledger has not projected
        (it may be a STOP); None: the ledger has projected every one. An unstored event
        counts, and so does a mark newer than the window: Meta's timestamps are whole
        seconds, so the first catches a STOP of the same second as a projected "hi"."""
        ages = []
        if self.unprojected_age_seconds is not None:
            ages.append(self.unprojected_age_seconds)
        marked, projected = self.marked_inbound_at, self.projected_inbound_at
        if marked is not None and (projected is None or marked > projected):
            ages.append(self.mark_age_seconds or 0.0)
        return min(ages) if ages else None

    def ledger_behind(self) -> bool:
        """Ingest acknowledged an inbound the ledger has not projected (it may be a STOP)."""
        return self.behind_for() is not None

    def window_open(self, now: datetime) -> bool:
        """Either side saw an inbound within 24 h."""
        seen = [t for t in (self.projected_inbound_at, self.marked_inbound_at) if t is not None]
        return bool(seen) and now - max(seen) < WINDOW


class RecipientPolicy(Protocol):
    async def facts(self, sender: str, recipient: str, marketing: bool) -> RecipientFacts: ...


# Built from the contract modules' constants only: no input reaches the text.
_UNPROJECTED = ingest_contract.newest_unprojected(
    ledger_contract.RECIPIENT_FORMS, ledger_contract.stored
)
_FACTS = text(
    f"SELECT {ledger_contract.OPTED_OUT}, {ledger_contract.PROJECTED_INBOUND}, "  # noqa: S608
    f"mark.last_inbound_at, {ingest_contract.MARK_AGE}, {_UNPROJECTED} FROM (SELECT 1) AS one "
    f"{ingest_contract.newest_mark(ledger_contract.RECIPIENT_FORMS)}"
)


class PostgresRecipientPolicy:
    """Reads the ledger's opt-outs and window and ingest's mark in one statement."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def facts(self, sender: str, recipient: str, marketing: bool) -> RecipientFacts:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    _FACTS,
                    {
                        "sender": sender,
                        "recipient": recipient,
                        "pseudonym": deployment_pseudonym(recipient),
                        "marketing": marketing,
                    },
                )
            ).one()
        suppressed, projected, marked, age, unprojected = row
        return RecipientFacts(
            suppressed=bool(suppressed),
            projected_inbound_at=projected,
            marked_inbound_at=marked,
            mark_age_seconds=None if age is None else float(age),
            unprojected_age_seconds=None if unprojected is None else float(unprojected),
        )
