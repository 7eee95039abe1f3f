"""Each service's SQLAlchemy tables (``<service>/tables.py``) against the schema its Alembic
migrations build, on a database of its own.

The migrations are the truth: they are what runs in production. The tables modules are what
the code queries with, so a table, column, key, index or default that differs between the
two is a statement that works against the module and fails, or does something else, against
the real schema. Alembic's autogenerate comparison (``compare_metadata``), restricted to the
service's own schema, lists every such difference and the test fails with that list.

What is compared, and why:

- tables, columns, nullability, primary keys, foreign keys, unique constraints and indexes,
  as autogenerate does by default: a table the migrations make must be declared too, so
  the module describes the whole schema;
- column types (``compare_type=True``): ``Text`` where the migration made ``String(32)``
  drops a length check the database enforces;
- server defaults (``compare_server_default=True``): Alembic asks PostgreSQL itself whether
  the two defaults evaluate alike, so spellings (``'{}'`` and ``'{}'::text[]``) agree;
- index definitions, which autogenerate leaves out (it sees a partial index's presence, not
  its predicate): the module's tables are created in a scratch schema of the same database
  and each index PostgreSQL prints there (``pg_indexes``, its own normal form: columns,
  order, uniqueness, predicate) must equal the migrated one of the same name;
- not views, functions, triggers or check constraints: the contracts a service publishes to
  others are views and SQL functions versioned by name (``…_v1``), defined only in
  migrations, and autogenerate does not reflect the rest. Any object whose name ends in
  ``_v<digits>`` is left out, and so is Alembic's own ``alembic_version``.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Connection, DefaultClause, MetaData, Text, create_engine, text

from tests.conftest import Stack

SERVICES = ("ingest", "ledger")
"""The services that declare their schema in a ``tables`` module (the dispatcher's code
speaks SQL to its few tables and has none)."""

VERSIONED = re.compile(r"_v\d+$")


def differences(database_url: str, schema: str, metadata: MetaData) -> list[Any]:
    """What differs between ``metadata`` and the live ``schema``: Alembic's diff, then each
    index whose definition differs. Empty when they agree."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            found = autogenerate_diff(conn, schema, metadata)
            found += index_differences(conn, schema, metadata)
            conn.rollback()  # the scratch schema goes with it
            return found
    finally:
        engine.dispose()


def autogenerate_diff(conn: Connection, schema: str, metadata: MetaData) -> list[Any]:
    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        if type_ == "schema":
            return name == schema
        return name is None or not VERSIONED.search(name)

    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table" and name == "alembic_version":
            return False
        return name is None or not VERSIONED.search(name)

    context = MigrationContext.configure(
        conn,
        opts={
            "include_schemas": True,
            "include_name": include_name,
            "include_object": include_object,
            "compare_type": True,
            "compare_server_default": True,
        },
    )
    return list(compare_metadata(context, metadata))


def index_differences(conn: Connection, schema: str, metadata: MetaData) -> list[Any]:
    """``(index, migrated definition, module's definition)`` for each index of both whose
    definitions differ, the module's made in a scratch schema and compared schema-blind."""
    scratch = f"drift_{schema}"
    conn.execute(text(f'CREATE SCHEMA "{scratch}"'))
    copy = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(copy, schema=scratch)
    copy.create_all(conn)
    migrated = index_definitions(conn, schema)
    declared = index_definitions(conn, scratch)
    return [
        ("modify_index", name, migrated[name], declared[name])
        for name in sorted(migrated.keys() & declared.keys())
        if migrated[name] != declared[name]
    ]


def index_definitions(conn: Connection, schema: str) -> dict[str, str]:
    rows = conn.execute(
        text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :schema"),
        {"schema": schema},
    )
    return {
        name: definition.replace(f" ON {schema}.", " ON <schema>.")
        for name, definition in rows
        if not VERSIONED.search(name)
    }


@pytest.fixture(scope="module")
def migrated(stack: Stack) -> str:
    return stack.new_database("drift", migrated=True)


@pytest.mark.parametrize("service", SERVICES)
def test_tables_module_matches_the_migrations(migrated: str, service: str) -> None:
    metadata = importlib.import_module(f"{service}.tables").metadata
    assert metadata.schema == service
    found = differences(migrated, service, metadata)
    assert found == [], "\n".join(map(str, found))


def test_each_kind_of_difference_is_found(migrated: str) -> None:
    """The comparison can fail: a column the migrations never made, a table they made that
    the module lacks, a changed type, a changed server default and a changed partial-index
    predicate are each reported."""
    from ingest import tables

    changed = MetaData(schema="ingest")
    for table in tables.metadata.tables.values():
        if table.name != "erasures":  # made by the migrations, missing here
            table.to_metadata(changed)
    changed.tables["ingest.tenants"].append_column(Column("nickname", Text, nullable=True))
    changed.tables["ingest.outbox"].c.queue.type = Text()
    changed.tables["ingest.tenants"].c.phone_number_ids.server_default = DefaultClause("{x}")
    (due,) = (i for i in changed.tables["ingest.outbox"].indexes if i.name == "outbox_due")
    due.dialect_options["postgresql"]["where"] = text("published_at IS NULL")

    found = {_named(d) for d in differences(migrated, "ingest", changed)}
    assert ("add_column", "tenants", "nickname") in found, found
    assert ("remove_table", "erasures") in found, found
    assert ("modify_type", "outbox", "queue") in found, found
    assert ("modify_default", "tenants", "phone_number_ids") in found, found
    assert ("modify_index", "outbox_due") in found, found


def _named(diff: Any) -> tuple[str, ...]:
    """A difference as its kind and the names it is about (column changes come as a list
    of one tuple, the rest as a tuple)."""
    kind, *rest = diff[0] if isinstance(diff, list) else diff
    if kind == "add_column":
        return (kind, rest[1], rest[2].name)
    if kind in ("remove_table", "add_table"):
        return (kind, rest[0].name)
    if kind in ("modify_type", "modify_default"):
        return (kind, rest[1], rest[2])
    if kind == "modify_index":
        return (kind, rest[0])
    return (kind,)
