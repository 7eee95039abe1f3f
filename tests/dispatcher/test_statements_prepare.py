"""Every SQL statement the dispatcher runs is accepted by a migrated database as written.

The dispatcher declares no tables of its own in SQLAlchemy (it speaks to its schema and the
others through SQL text and published contracts), so the drift test cannot see its
statements: a column renamed in a migration would surface only when a test happens to run
that statement. Here PostgreSQL parses, resolves and plans each one (``PREPARE``) without
running it, its parameters typed by inference."""

from __future__ import annotations

import re
from types import ModuleType

import psycopg
import pytest
from sqlalchemy.sql.elements import TextClause
from tests.conftest import Stack

from dispatcher import accepted_wamid, gate, ledger_contract, quarantine, recipients
from notif_core.db import libpq_url

MODULES: tuple[ModuleType, ...] = (gate, recipients, ledger_contract, accepted_wamid, quarantine)
_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def statements() -> list[tuple[str, str]]:
    """(module.name, SQL) of every module-level ``text()`` statement of the dispatcher."""
    return [
        (f"{module.__name__}.{name}", value.text)
        for module in MODULES
        for name, value in vars(module).items()
        if isinstance(value, TextClause)
    ]


def positional(sql: str) -> str:
    """``:name`` parameters as ``$1``, ``$2`` … (one number per name), as PREPARE takes."""
    numbers: dict[str, int] = {}
    return _PARAMETER.sub(lambda m: f"${numbers.setdefault(m[1], len(numbers) + 1)}", sql)


def test_the_scan_finds_the_statements() -> None:
    names = {name for name, _ in statements()}
    assert {"dispatcher.gate._CLAIM", "dispatcher.recipients._FACTS"} <= names


@pytest.mark.parametrize(("name", "sql"), statements(), ids=[n for n, _ in statements()])
def test_postgresql_accepts_the_statement(stack: Stack, name: str, sql: str) -> None:
    url = libpq_url(stack.database_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"PREPARE probe AS {positional(sql)}")
        conn.execute("DEALLOCATE probe")
