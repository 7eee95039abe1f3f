"""``execute_at_once`` on a real PostgreSQL: rows sent as one JSON literal keep every value
intact (text, JSON, UUIDs, timestamps in any zone, NULLs), the statements are one
transaction, and errors come out as SQLAlchemy's."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.exc import DBAPIError, IntegrityError
from tests.conftest import Stack

from notif_core.db import Rows, autocommit, execute_at_once, make_engine
from notif_core.ids import new_id
from notif_core.outages import dependency_down

metadata = MetaData(schema="public")
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("label", Text),
    Column("at", DateTime(timezone=True)),
    Column("ref", PgUUID(as_uuid=True)),
    Column("doc", JSONB),
    Column("created", DateTime(timezone=True), server_default=text("now()")),
)
COLUMNS = ("id", "label", "at", "ref", "doc")
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
    at = datetime(2026, 11, 27, 12, 30, 1, 250_000, tzinfo=timezone(timedelta(hours=-5)))
    docs: list[object] = [
        '{"already": "serialised", "n": [1, 2.5, null]}',  # JSON text goes in as JSON
        *({"label": label, "nested": {"quote": "'"}} for label in AWKWARD[1:]),
    ]
    rows = [
        (n, label, at if n % 2 else None, (uuid4, new_id)[n % 2]() if n % 3 else None, doc)
        for n, (label, doc) in enumerate(zip(AWKWARD, docs, strict=True))
    ]
    auto = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with auto.connect() as conn:
        await execute_at_once(conn, [Rows(things, COLUMNS, rows), "SELECT 1"])
    async with engine.connect() as conn:
        stored = (await conn.execute(select(things).order_by(things.c.id))).all()
    assert [tuple(r)[:4] for r in stored] == [row[:4] for row in rows]
    assert stored[0].doc == {"already": "serialised", "n": [1, 2.5, None]}
    assert [r.doc for r in stored[1:]] == docs[1:]
    assert all(isinstance(r.ref, UUID) for r in stored if r.id % 3)
    assert stored[1].at == at
    assert all(r.created is not None for r in stored)  # omitted columns keep their default

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


async def test_under_autocommit_each_statement_commits_at_once(stack: Stack) -> None:
    engine = make_engine(stack.new_database("autocommit"), pool_size=2)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE public.marks (id int PRIMARY KEY)"))
    count = text("SELECT count(*) FROM public.marks")
    async with autocommit(engine).begin() as conn:
        await conn.execute(text("INSERT INTO public.marks VALUES (1)"))
        async with engine.connect() as other:  # another connection sees it already
            seen_inside = (await other.execute(count)).scalar_one()
    async with engine.begin() as conn:  # the transactional engine is unchanged
        await conn.execute(text("INSERT INTO public.marks VALUES (2)"))
        async with engine.connect() as other:
            seen_before_commit = (await other.execute(count)).scalar_one()
    await engine.dispose()
    assert seen_inside == 1
    assert seen_before_commit == 1


blobs = Table(
    "blobs", metadata, Column("id", Integer, primary_key=True), Column("body", LargeBinary)
)


async def test_bytes_round_trip_and_a_cancelled_statement_is_not_a_lost_connection(
    stack: Stack,
) -> None:
    engine = make_engine(stack.new_database("blobs"), pool_size=1)
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: blobs.create(sync))
    every_byte = bytes(range(256)) * 3
    auto = autocommit(engine)
    async with auto.connect() as conn:
        await execute_at_once(conn, [Rows(blobs, ("id", "body"), [(1, every_byte), (2, b"")])])
    async with engine.connect() as conn:
        stored = dict((await conn.execute(select(blobs.c.id, blobs.c.body))).all())
    assert stored == {1: every_byte, 2: b""}

    # A statement the server cancels (statement_timeout) leaves a working connection: it
    # is not taken for an outage, so a group commit splits instead of answering 503.
    async with auto.connect() as conn:
        await conn.execute(text("SET statement_timeout = 50"))
        with pytest.raises(DBAPIError) as cancelled:
            await execute_at_once(conn, ["SELECT pg_sleep(2)"])
    assert not cancelled.value.connection_invalidated
    assert dependency_down(cancelled.value) is None
    await engine.dispose()
