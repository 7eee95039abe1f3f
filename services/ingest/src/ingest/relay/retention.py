"""Retention: rows that have served their purpose are deleted after a while.

Published outbox rows are kept a day for inspection (``OUTBOX_RETENTION_HOURS``); processed
raw webhook bodies hold personal data (numbers, inbound text) and are kept three days
(``WEBHOOK_INBOX_RETENTION_HOURS``); accepted notifications (the recipient and the message)
are kept ``NOTIFICATION_RETENTION_DAYS`` (90; 0 keeps them) after their creation or their
scheduled send, whichever is later. Without this the ingest schema would grow by several
rows per notification forever. Run by the relay's housekeeping.

A notification goes from here no later than from the ledger (whose clock starts at the last
change, never before the acceptance or the scheduled send), so the API never shows a purged
ledger row as ``accepted``: it answers 404, as for any unknown id.

The tables are walked oldest first in windows of ``BATCH`` ids (serials, or UUIDv7s), each
deleted in its own short transaction, and the walk stops at the first window holding a row
created after the cutoff:
such a row cannot have been finished before it, and every later row is younger still. So a
purge reads only what it deletes plus one window, however large the table, and needs no
index beyond the primary key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Column, ColumnElement, Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.tables import idempotency_keys, inbound, notifications, outbox, webhook_inbox
from notif_core import retention as retention_metric
from notif_core.events import utcnow

TABLES = retention_metric.counted(
    *(t.fullname for t in (notifications, idempotency_keys, outbox, webhook_inbox, inbound))
)
"""What ingest's purges delete from, each a series of ``notif_retention_purged``."""
BATCH = 5_000
NIL = UUID(int=0)
"""Where a walk over UUID ids starts (below every UUIDv7)."""


async def purge(
    engine: AsyncEngine,
    table: Table,
    created: Column[datetime],
    finished: ColumnElement[datetime],
    hours: float,
    start: Any = 0,
) -> int:
    """Delete rows ``finished`` more than ``hours`` ago (unfinished rows stay); ``start`` is
    below every id (0, or :data:`NIL` for UUIDs). Counted in ``notif_retention_purged``."""
    cutoff = utcnow() - timedelta(hours=hours)
    after, total = start, 0
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
            # the last id (no max() for uuid)
            select(window.c.id).order_by(window.c.id.desc()).limit(1).scalar_subquery(),
            select(func.max(window.c.created)).scalar_subquery(),
        )
        async with engine.begin() as conn:
            deleted, last_id, newest = (await conn.execute(query)).one()
        total += int(deleted)
        retention_metric.record(table.fullname, int(deleted))
        if last_id is None or newest >= cutoff:
            return total
        after = last_id
