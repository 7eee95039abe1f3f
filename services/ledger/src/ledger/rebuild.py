"""Rebuilding every read model from the event store, then swapping the result in.

The events are replayed, in the order they were stored, through the same ``store.project``
the live consumer uses (callbacks aside: a rebuild never re-sends them), into fresh tables
in a scratch schema. Readers keep the old tables meanwhile. At the end, under an exclusive
advisory lock that the consumer takes shared for each batch, the events stored during the
rebuild are replayed too, and each old table is replaced by its rebuilt twin in one
transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import sealing, store
from ledger.optouts import DEFAULT_KEYWORDS, Keywords
from ledger.tables import LIVE, RETIRED, ReadModel, events

SCRATCH = "ledger_rebuild"
VERIFY = "ledger_verify"
LOCK_ID = 7_302_640_113
"""Advisory lock between a rebuild's swap (exclusive) and consumer batches (shared)."""
PAGE = 1000
RETENTION_LOCK_ID = 7_302_640_114
"""Session advisory lock: a retention purge holds it for its run, a rebuild or a verify for
theirs, so a purge never deletes events that a replay in progress has already read."""


@asynccontextmanager
async def retention_excluded(engine: AsyncEngine, *, wait: bool = True) -> AsyncIterator[bool]:
    """Hold :data:`RETENTION_LOCK_ID` for the block; yields whether it was taken (always,
    when ``wait``; a purge passes ``wait=False`` and skips its run when it was not)."""
    function = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
    async with engine.connect() as conn:
        taken = (
            await conn.execute(text(f"SELECT {function}(:id)"), {"id": RETENTION_LOCK_ID})
        ).scalar()
        await conn.commit()
        try:
            yield taken is not False
        finally:
            if taken is not False:
                await conn.execute(
                    text("SELECT pg_advisory_unlock(:id)"), {"id": RETENTION_LOCK_ID}
                )
                await conn.commit()


async def share_lock(conn: AsyncConnection) -> None:
    """Taken by every consumer batch: waits only while a rebuild swaps tables."""
    await conn.execute(text("SELECT pg_advisory_xact_lock_shared(:id)"), {"id": LOCK_ID})


@dataclass(frozen=True)
class Report:
    events: int
    notifications: int


async def _replay(
    conn: AsyncConnection, rm: ReadModel, after_seq: int, keywords: Keywords, limit: int | None
) -> tuple[int, int]:
    """Project stored events after ``after_seq``; returns (last seq, how many)."""
    query = (
        select(events.c.seq, events.c.body).where(events.c.seq > after_seq).order_by(events.c.seq)
    )
    if limit is not None:
        query = query.limit(limit)
    rows = list(await conn.execute(query))
    opened = await sealing.opened(conn, [row.body for row in rows])
    page = [(row.seq, event) for row, event in zip(rows, opened, strict=True)]
    await store.project(conn, page, keywords, rm)
    return (page[-1][0] if page else after_seq), len(page)


async def create_scratch(conn: AsyncConnection, schema: str) -> ReadModel:
    """Empty copies of the live read-model tables (indexes and constraints included)."""
    await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    for table in LIVE.tables():
        await conn.execute(
            text(f'CREATE TABLE "{schema}".{table.name} (LIKE ledger.{table.name} INCLUDING ALL)')
        )
    return ReadModel.in_schema(schema)


async def seed_retired(conn: AsyncConnection, schema: str) -> None:
    """Start a rebuild from what purged events contributed (``ledger.retention``): the
    replay's upserts then add and merge the remaining events onto it, as they did live."""
    for live, retired in RETIRED:
        columns = ", ".join(c.name for c in live.columns)
        await conn.execute(
            text(
                f'INSERT INTO "{schema}".{live.name} ({columns}) '  # noqa: S608 - our names
                f"SELECT {columns} FROM ledger.{retired.name}"
            )
        )


async def _replay_all(
    engine: AsyncEngine, schema: str, keywords: Keywords
) -> tuple[ReadModel, int, int]:
    """Fresh read models in ``schema``, replayed page by page; (model, last seq, count)."""
    async with engine.begin() as conn:
        scratch = await create_scratch(conn, schema)
        await seed_retired(conn, schema)
    last, total = 0, 0
    while True:
        async with engine.begin() as conn:
            last, count = await _replay(conn, scratch, last, keywords, PAGE)
        total += count
        if count < PAGE:
            return scratch, last, total


async def compare(engine: AsyncEngine, keywords: Keywords = DEFAULT_KEYWORDS) -> dict[str, int]:
    """Rebuild into a scratch schema, count the rows that differ from the live tables (in
    either direction; ``created_at`` aside, being the row's own insert time), drop the
    scratch. Meant for a quiet ledger: events projected meanwhile show as differences."""
    async with retention_excluded(engine):
        return await _compare(engine, keywords)


async def _compare(engine: AsyncEngine, keywords: Keywords) -> dict[str, int]:
    await _replay_all(engine, VERIFY, keywords)
    differences: dict[str, int] = {}
    try:
        async with engine.connect() as conn:
            for table in LIVE.tables():
                columns = ", ".join(c.name for c in table.columns if c.name != "created_at")
                live = f"SELECT {columns} FROM ledger.{table.name}"  # noqa: S608 - our names
                rebuilt = f'SELECT {columns} FROM "{VERIFY}".{table.name}'  # noqa: S608
                both = f"({live} EXCEPT ALL {rebuilt}) UNION ALL ({rebuilt} EXCEPT ALL {live})"
                query = f"SELECT count(*) FROM ({both}) AS d"  # noqa: S608 - our names
                differences[table.name] = int((await conn.execute(text(query))).scalar_one())
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{VERIFY}" CASCADE'))
    return differences


async def rebuild(engine: AsyncEngine, keywords: Keywords = DEFAULT_KEYWORDS) -> Report:
    async with retention_excluded(engine):
        return await _rebuild(engine, keywords)


async def _rebuild(engine: AsyncEngine, keywords: Keywords) -> Report:
    scratch, last, total = await _replay_all(engine, SCRATCH, keywords)
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
        last, count = await _replay(conn, scratch, last, keywords, None)
        total += count
        for table in LIVE.tables():
            await conn.execute(text(f"DROP TABLE ledger.{table.name}"))
            await conn.execute(text(f'ALTER TABLE "{SCRATCH}".{table.name} SET SCHEMA ledger'))
        await conn.execute(text(f'DROP SCHEMA "{SCRATCH}"'))
        notifications = (
            await conn.execute(text("SELECT count(*) FROM ledger.notifications"))
        ).scalar_one()
    return Report(events=total, notifications=int(notifications))
