"""Retention: rows that have served their purpose are deleted after a while.

Published outbox rows are kept a day for inspection (``OUTBOX_RETENTION_HOURS``); processed
raw webhook bodies hold personal data (numbers, inbound text) and are kept three days
(``WEBHOOK_INBOX_RETENTION_HOURS``). Without this the ingest schema would grow by several
rows per notification forever. Run by the relay's housekeeping, in small batches so that no
delete holds its locks for long or leaves one huge transaction.
"""

from __future__ import annotations

from sqlalchemy import Column, Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

BATCH = 5_000


async def purge(engine: AsyncEngine, table: Table, stamp: Column[object], hours: float) -> int:
    """Delete rows whose ``stamp`` is older than ``hours`` (a NULL stamp is kept)."""
    cutoff = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, hours * 3600)
    oldest = select(table.c.id).where(stamp < cutoff).order_by(table.c.id).limit(BATCH)
    total = 0
    while True:
        async with engine.begin() as conn:
            result = await conn.execute(
                delete(table).where(table.c.id.in_(oldest.scalar_subquery()))
            )
        deleted = result.rowcount or 0
        total += deleted
        if deleted < BATCH:
            return total
