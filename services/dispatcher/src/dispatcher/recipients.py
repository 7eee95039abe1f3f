"""What the dispatcher must know about a recipient before sending: opt-outs and the 24h
window. An interface, so its source can change; today the ledger's read models in
PostgreSQL back it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

WINDOW = timedelta(hours=24)


class RecipientPolicy(Protocol):
    async def suppressed(self, sender: str, recipient: str, marketing: bool) -> bool: ...

    async def window_open(self, sender: str, recipient: str, now: datetime) -> bool: ...


_SUPPRESSED = text(
    "SELECT 1 FROM ledger.suppressions WHERE recipient = :recipient "
    "AND phone_number_id IN (:sender, '*') AND (scope = 'all' OR :marketing) "
    "AND since IS NOT NULL AND (lifted_at IS NULL OR since > lifted_at) LIMIT 1"
)
_WINDOW = text(
    "SELECT last_inbound_at FROM ledger.windows "
    "WHERE phone_number_id = :sender AND recipient = :recipient"
)


class PostgresRecipientPolicy:
    """Reads ``ledger.suppressions`` and ``ledger.windows``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def suppressed(self, sender: str, recipient: str, marketing: bool) -> bool:
        async with self._engine.connect() as conn:
            row = await conn.execute(
                _SUPPRESSED, {"sender": sender, "recipient": recipient, "marketing": marketing}
            )
            return row.first() is not None

    async def window_open(self, sender: str, recipient: str, now: datetime) -> bool:
        async with self._engine.connect() as conn:
            last = (
                await conn.execute(_WINDOW, {"sender": sender, "recipient": recipient})
            ).scalar_one_or_none()
        return last is not None and now - last < WINDOW
