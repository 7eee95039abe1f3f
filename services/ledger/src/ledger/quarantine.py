"""Setting an events-queue message aside in ``ledger.quarantine``, with its reason, so the
rest of its batch (and everything behind it) is projected."""

from __future__ import annotations

from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import tables
from notif_core import quarantine
from notif_core.sqs import Delivery, Outcome

STAGE: Final[quarantine.Stage] = "ledger"
TABLE = tables.quarantine
"""The table as ``ledger/tables.py`` declares it (one declaration, checked against the
migrations)."""


async def set_aside(
    engine: AsyncEngine, delivery: Delivery, reason: quarantine.Reason, detail: str
) -> Outcome:
    """Store the message with its reason, count and log it, and acknowledge it."""
    await quarantine.store(engine, TABLE, STAGE, delivery, reason, detail)
    return Outcome.ack()
