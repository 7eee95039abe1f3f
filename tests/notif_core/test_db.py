"""``execute_at_once`` on a real PostgreSQL: client-side binding keeps every value intact,
the statements are one transaction, and errors come out as SQLAlchemy's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, select, text
from sqlalchemy.exc import IntegrityError
from tests.conftest import Stack

from notif_core.db import Rows, execute_at_once, make_engine

metadata = MetaData(schema="public")
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("label", Text),
    Column("at", DateTime(timezone=True)),
)
AWKWARD = [
    "it's",
    'say "hi"',
    "back\\slash",
    "'); DROP TABLE public.things; --",
    "emoji 🚀 and ünïcödé",
    "%s %(name)s {}",
    "line\nbreak",
    "",
]


async def test_values_round_trip_and_statements_are_one_transaction(stack: Stack) -> None:
    engine = make_engine(stack.new_database("atonce"), pool_size=1)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    at = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
    rows = [(n, label, at if n % 2 else None) for n, label in enumerate(AWKWARD)]
    auto = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with auto.connect() as conn:
        await execute_at_once(conn, [Rows(things, ("id", "label", "at"), rows), "SELECT 1"])
    async with engine.connect() as conn:
        stored = (await conn.execute(select(things).order_by(things.c.id))).all()
    assert [tuple(r) for r in stored] == rows

    # The second INSERT fails (a duplicate id): the first one's row must not stay either.
    with pytest.raises(IntegrityError):
        async with auto.connect() as conn:
            await execute_at_once(
                conn,
                [
                    Rows(things, ("id", "label"), [(100, "first")]),
                    Rows(things, ("id", "label"), [(0, "duplicate")]),
                ],
            )
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM public.things"))).scalar_one()
    assert count == len(AWKWARD)
    await engine.dispose()
