"""``notif-<service> migrate`` and ``downgrade``, as the chart's migration Job and the
runbook run them, against a fresh database on the test stack's PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
from alembic.script import ScriptDirectory

from dispatcher.main import MIGRATIONS as DISPATCHER_MIGRATIONS
from ingest.main import MIGRATIONS as INGEST_MIGRATIONS
from ledger.main import MIGRATIONS as LEDGER_MIGRATIONS
from notif_core.db import libpq_url
from tests.conftest import Stack

HEADS = {
    name: ScriptDirectory(str(path)).get_current_head()
    for name, path in (
        ("ingest", INGEST_MIGRATIONS),
        ("dispatcher", DISPATCHER_MIGRATIONS),
        ("ledger", LEDGER_MIGRATIONS),
    )
}
"""Each schema's newest revision, as its migration scripts say."""

BIN = Path(sys.executable).parent


def run(command: list[str], database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "INFO"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


VERSIONS = {
    schema: f'SELECT version_num FROM "{schema}".alembic_version'  # noqa: S608 - fixed names
    for schema in ("ingest", "dispatcher", "ledger")
}


def versions(dsn: str) -> dict[str, str]:
    found = {}
    with psycopg.connect(dsn) as conn:
        for schema, query in VERSIONS.items():
            row = conn.execute(query).fetchone()
            found[schema] = str(row[0]) if row else ""
    return found


def test_migrate_then_downgrade_one_step(stack: Stack) -> None:
    url = stack.new_database("migrate")
    dsn = libpq_url(url)
    for service in ("ingest", "dispatcher", "ledger"):  # the Job's order
        done = run([str(BIN / f"notif-{service}"), "migrate"], url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert '"migrated"' in done.stdout
    assert versions(dsn) == HEADS
    done = run([str(BIN / "notif-ledger"), "downgrade", "0002"], url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert versions(dsn)["ledger"] == "0002"
    with psycopg.connect(dsn) as conn:
        gone = conn.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'ledger' AND table_name IN ('usage', 'callbacks')"
        ).fetchone()
    assert gone == (0,)
    done = run([str(BIN / "notif-ledger"), "migrate"], url)
    assert done.returncode == 0
    assert versions(dsn)["ledger"] == HEADS["ledger"]
