"""Retention: rows that have served their purpose are deleted after a while.

Published outbox rows are kept a day for inspection (``OUTBOX_RETENTION_HOURS``); processed
raw webhook bodies hold personal data (numbers, inbound text) and are kept three days
(``WEBHOOK_INBOX_RETENTION_HOURS``). Without this the ingest schema would grow by several
rows per notification forever. Run by the relay's housekeeping.

The tables are walked oldest first in windows of ``BATCH`` ids, each deleted in its own short
transaction, and the walk stops at the first window holding a row created after the cutoff:
such a row cannot have been finished before it, and every later row is younger still. So a
purge reads only what it deletes plus one window, however large the table, and needs no
index beyond the primary key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Column, Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from notif_core.events import utcnow

BATCH = 5_000


async def purge(
    engine: AsyncEngine,
    table: Table,
    created: Column[datetime],
    finished: Column[datetime],
    hours: float,
) -> int:
    """Delete rows ``finished`` more than ``hours`` ago (unfinished rows stay)."""
    cutoff = utcnow() - timedelta(hours=hours)
    after, total = 0, 0
    while True:
        window = (
            select(table.c.id, created.label("created"))
            .where(table.c.id > after)
            .order_by(table.c.id)
            .limit(BATCH)
            .cte("window")
        )
        gone = (
            delete(table)
            .where(table.c.id == window.c.id, finished < cutoff)
            .returning(table.c.id)
            .cte("gone")
        )
        query = select(
            select(func.count()).select_from(gone).scalar_subquery(),
            select(func.max(window.c.id)).scalar_subquery(),
            select(func.max(window.c.created)).scalar_subquery(),
        )
        async with engine.begin() as conn:
            deleted, last_id, newest = (await conn.execute(query)).one()
        total += int(deleted)
        if last_id is None or newest >= cutoff:
            return total
        after = last_id
