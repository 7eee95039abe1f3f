"""PostgreSQL access: async engines for the services, Alembic runs per service schema.

Each service owns one schema (``ingest``, ``dispatcher``, ``ledger``) and its own Alembic
history, whose version table lives in that schema, so services migrate independently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import psycopg
from alembic import command
from alembic.config import Config
from prometheus_client import Gauge
from psycopg import sql
from sqlalchemy import Table, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import sqltypes

DB_POOL_IN_USE = Gauge(
    "notif_db_pool_connections_in_use", "Database connections checked out of the pool.", ["pool"]
)
DB_POOL_SIZE = Gauge(
    "notif_db_pool_connections_max",
    "Most connections the pool may open (size + overflow).",
    ["pool"],
)


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    application_name: str = "notif",
    wait_seconds: float = 2.0,
    statement_timeout_ms: int = 10_000,
    pre_ping: bool = False,
) -> AsyncEngine:
    """An async engine on psycopg 3 that fails fast instead of hanging.

    ``wait_seconds`` bounds both the wait for a pooled connection and a new connection's
    handshake, so a down or saturated database surfaces as an error within seconds. No
    pre-ping by default (it would double every round trip): when a restarted server has
    dropped the pooled connections, the first statement fails, SQLAlchemy invalidates the
    whole pool, and the next one reconnects; consumers retry that message a second later.
    """
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=wait_seconds,
        pool_recycle=1800,
        pool_pre_ping=pre_ping,
        connect_args={
            "application_name": application_name,
            "connect_timeout": max(1, round(wait_seconds)),
            "options": f"-c statement_timeout={statement_timeout_ms}",
        },
    )
    pool = engine.sync_engine.pool
    DB_POOL_IN_USE.labels(application_name).set_function(
        lambda: float(getattr(pool, "checkedout", lambda: 0)())
    )
    DB_POOL_SIZE.labels(application_name).set(pool_size * 2)
    return engine


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, each statement its own transaction. psycopg opens a transaction with
    a BEGIN of its own round trip, and ``engine.begin()`` ends it with a COMMIT, or a pooled
    connection's return with a ROLLBACK: three round trips where one does, for code whose
    every transaction is a single statement (``engine.begin()`` blocks still work; each
    statement in them commits at once)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


@dataclass(frozen=True)
class Rows:
    """A multi-row INSERT for :func:`execute_at_once`: values in ``columns`` order.

    A JSON column takes a dict or list, or a ``str`` already serialised as JSON; a ``bytea``
    column takes ``bytes``.
    """

    table: Table
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]

    def as_sql(self, driver: psycopg.AsyncConnection[Any]) -> bytes:
        """``INSERT … SELECT … FROM json_populate_recordset(NULL::table, '<rows as JSON>')``.

        The rows travel as one JSON literal, serialised by orjson in C and typed by the
        table's own row type: a ninth of the CPU of quoting every value through psycopg's
        adapters, on the path that accepts every notification. A value orjson cannot
        serialise raises ``TypeError`` before anything is sent.
        """
        raw_json = {
            name for name in self.columns if isinstance(self.table.c[name].type, sqltypes.JSON)
        }
        records = [
            {
                name: orjson.Fragment(value)
                if name in raw_json and isinstance(value, str)
                else value
                for name, value in zip(self.columns, row, strict=True)
            }
            for row in self.rows
        ]
        names = sql.SQL(", ").join(sql.Identifier(self.table.c[n].name) for n in self.columns)
        table = sql.Identifier(str(self.table.schema), self.table.name)
        literal = orjson.dumps(records, default=_json_text).decode()
        return (
            sql.SQL(
                "INSERT INTO {table} ({names}) SELECT {names} FROM json_populate_recordset("
                "NULL::{table}, {records})"
            )
            .format(table=table, names=names, records=sql.Literal(literal))
            .as_bytes(driver)
        )


def _json_text(value: object) -> str:
    """What orjson does not write itself: ``uuid.UUID``'s subclasses (``uuid6.UUID``), and
    bytes, as ``bytea``'s hex input form."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


async def execute_at_once(conn: AsyncConnection, statements: Sequence[Rows | str]) -> None:
    """Run multi-row INSERTs and plain statements in one round trip, in ``conn``'s transaction
    (on an autocommit connection, PostgreSQL runs them as one implicit transaction).

    For hot paths: each round trip of an async driver costs about 100 us of CPU, and
    SQLAlchemy's executemany another 50 us per row. The values reach the server inside
    literals quoted by psycopg (:meth:`Rows.as_sql`), which is safe for any value. A lost
    connection is invalidated, so the pool does not hand it out again, and errors are raised
    as SQLAlchemy's (``OperationalError`` for a lost database) like those of any statement.
    """
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    parts = [
        s.encode() if isinstance(s, str) else s.as_sql(driver)
        for s in statements
        if isinstance(s, str) or s.rows
    ]
    cursor = psycopg.AsyncClientCursor(driver)
    try:
        await cursor.execute(b"; ".join(parts))
    except psycopg.Error as exc:  # raised as SQLAlchemy would, so callers handle one kind
        # Lost only when the connection is: a statement timeout (QueryCanceled) is an
        # OperationalError too, on a connection that still works.
        lost = isinstance(exc, psycopg.OperationalError) and (driver.closed or driver.broken)
        if lost:
            await conn.invalidate()
        raise DBAPIError.instance(
            None, None, exc, psycopg.Error, connection_invalidated=lost
        ) from exc
    finally:
        await cursor.close()


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL as psycopg's own connection string (no ``+psycopg``)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


async def ping(engine: AsyncEngine) -> bool:
    """True when a ``SELECT 1`` round trip succeeds."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


def alembic_config(migrations_dir: Path, url: str, schema: str) -> Config:
    """An in-memory Alembic config pointing at one service's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["schema"] = schema
    return cfg


def upgrade(migrations_dir: Path, url: str, schema: str, revision: str = "head") -> None:
    """Create the schema if needed and migrate it to ``revision``."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    engine.dispose()
    command.upgrade(alembic_config(migrations_dir, url, schema), revision)


def downgrade(migrations_dir: Path, url: str, schema: str, revision: str) -> None:
    """Migrate the schema back to ``revision`` (``-1``: one step)."""
    command.downgrade(alembic_config(migrations_dir, url, schema), revision)


def migration_command(argv: list[str], migrations_dir: Path, url: str, schema: str) -> bool:
    """``migrate [REVISION]`` or ``downgrade REVISION`` on a service's command line: run it
    and return True; anything else is not a migration command (False)."""
    if argv[:1] == ["migrate"] and len(argv) <= 2:
        upgrade(migrations_dir, url, schema, argv[1] if len(argv) == 2 else "head")
        return True
    if argv[:1] == ["downgrade"] and len(argv) == 2:
        downgrade(migrations_dir, url, schema, argv[1])
        return True
    return False


def run_alembic_env(schema: str) -> None:
    """Body of every service's ``env.py``: online migrations with a per-schema version table."""
    from alembic import context

    cfg = context.config
    url = cfg.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set"
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            version_table_schema=schema,
            include_schemas=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
