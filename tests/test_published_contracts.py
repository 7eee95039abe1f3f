"""The contracts services publish to each other, in a migrated database: each one another
package calls exists and says its promise; the dispatcher's one statement that ends an
unclaimed notification answers as both callers expect; the readers' statements inline the
relation functions (the plans of reading the tables); and each migration's downgrade drops
what its upgrade created."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from notif_core.db import libpq_url, make_engine
from notif_core.ids import new_id
from tests.conftest import Stack
from tests.test_table_ownership import VERSIONED, foreign_references

_CONTRACTS = (
    "SELECT n.nspname, p.proname, obj_description(p.oid, 'pg_proc') "
    "FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace "
    "WHERE n.nspname IN ('ingest', 'ledger', 'dispatcher') AND p.proname ~ '_v[0-9]+$'"
)


def contracts(dsn: str) -> dict[tuple[str, str], str | None]:
    """Every versioned function of the three schemas and its comment."""
    with psycopg.connect(dsn) as conn:
        return {(s, n): c for s, n, c in conn.execute(_CONTRACTS).fetchall()}


@pytest.fixture(scope="module")
def migrated(stack: Stack) -> str:
    return stack.new_database("contracts", migrated=True)


def test_every_contract_in_use_is_published_with_its_promise(migrated: str) -> None:
    published = contracts(libpq_url(migrated))
    used = {(r.schema, r.name) for r in foreign_references()}
    assert used, "the scan found no cross-service call at all"
    assert used <= published.keys(), used - published.keys()
    for (owner, name), comment in published.items():
        assert VERSIONED.search(name)
        readers = {"ingest", "dispatcher", "ledger", "notifctl"} - {owner}
        assert comment, f"{owner}.{name} says no promise"
        assert any(r in comment for r in readers), f"{owner}.{name}: who reads it?"


async def _gate_row(engine: AsyncEngine, nid: UUID, state: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO dispatcher.claims (notification_id, state, owner, lease_until) "
                "VALUES (:id, :state, 'w1', now() + interval '30 seconds')"
            ),
            {"id": nid, "state": state},
        )


async def _cancel(engine: AsyncEngine, nid: UUID) -> tuple[bool, str]:
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                text("SELECT won, state FROM dispatcher.cancel_v1(:id)"), {"id": nid}
            )
        ).one()
    return bool(row.won), str(row.state)


async def test_cancel_wins_only_where_no_dispatcher_holds_it(migrated: str) -> None:
    engine = make_engine(migrated, pool_size=1)
    try:
        fresh, released, claimed, sent = (new_id() for _ in range(4))
        assert await _cancel(engine, fresh) == (True, "cancelled")
        assert await _cancel(engine, fresh) == (False, "cancelled")  # cancelled before
        await _gate_row(engine, released, "released")
        assert await _cancel(engine, released) == (True, "cancelled")
        await _gate_row(engine, claimed, "claimed")
        assert await _cancel(engine, claimed) == (False, "claimed")
        await _gate_row(engine, sent, "sent")
        assert await _cancel(engine, sent) == (False, "sent")

        # The gate ends unclaimed notifications with the same function; a cancel first wins.
        end = text("SELECT won, state FROM dispatcher.end_unclaimed_v1(:id, :state)")
        async with engine.begin() as conn:
            row = (await conn.execute(end, {"id": fresh, "state": "expired"})).one()
        assert (row.won, row.state) == (False, "cancelled")
        async with engine.begin() as conn:
            cancelled = text("SELECT notification_id FROM dispatcher.cancelled_v1()")
            assert set((await conn.execute(cancelled)).scalars()) == {fresh, released}
        with pytest.raises(Exception, match="not an end before sending"):
            async with engine.begin() as conn:
                await conn.execute(end, {"id": new_id(), "state": "sent"})
    finally:
        await engine.dispose()


async def test_operator_functions_act_only_on_what_was_set_aside(migrated: str) -> None:
    """What notifctl quarantine and recipients erase call, on the stages no other test drives
    through them: the relay's outbox rows, status callbacks, and the dispatcher's erasure."""
    engine = make_engine(migrated, pool_size=1)
    try:
        async with engine.begin() as conn:
            ids = (
                await conn.execute(
                    text(
                        "INSERT INTO ingest.outbox (queue, event_id, body, quarantined_at, "
                        "quarantine_reason, available_at) VALUES "
                        "('events', :a, '{}', now(), 'too_large', now() + interval '1 day'), "
                        "('events', :b, '{}', NULL, NULL, now()) RETURNING id"
                    ),
                    {"a": new_id(), "b": new_id()},
                )
            ).scalars()
            aside, due = list(ids)
            listed = (
                await conn.execute(text("SELECT id, reason FROM ingest.quarantine_list_v1(10)"))
            ).all()
            assert [(r.id, r.reason) for r in listed] == [(aside, "too_large")]
            retry = text("SELECT ingest.quarantine_retry_v1(:id)")
            drop = text("SELECT ingest.quarantine_drop_v1(:id)")
            assert (await conn.execute(drop, {"id": due})).scalar() is False  # not set aside
            assert (await conn.execute(retry, {"id": aside})).scalar() is True
            assert (await conn.execute(retry, {"id": aside})).scalar() is False
            row = (
                await conn.execute(
                    text(
                        "SELECT quarantined_at, available_at <= now() AS is_due "
                        "FROM ingest.outbox WHERE id = :id"
                    ),
                    {"id": aside},
                )
            ).one()
            assert row.quarantined_at is None
            assert row.is_due

            callback = (
                await conn.execute(
                    text(
                        "INSERT INTO ledger.callbacks (event_id, notification_id, url, body, "
                        "state, last_error) VALUES (:e, :n, 'https://example.com/cb', "
                        "'{\"status\": \"sent\"}', 'quarantined', 'invalid_url: bad') "
                        "RETURNING id"
                    ),
                    {"e": new_id(), "n": new_id()},
                )
            ).scalar_one()
            listed = (
                await conn.execute(
                    text("SELECT id, reason FROM ledger.callback_quarantine_list_v1(10)")
                )
            ).all()
            assert [(r.id, r.reason) for r in listed] == [(callback, "invalid_url")]
            ended = text("SELECT ledger.callback_quarantine_drop_v1(:id)")
            assert (await conn.execute(ended, {"id": callback})).scalar() is True
            assert (await conn.execute(ended, {"id": callback})).scalar() is False
            state = text("SELECT state FROM ledger.callbacks WHERE id = :id")
            assert (await conn.execute(state, {"id": callback})).scalar() == "failed"

            await conn.execute(
                text(
                    "INSERT INTO dispatcher.quarantine (queue, message_id, body, reason, "
                    "detail, receive_count) VALUES "
                    "('d', 'm1', '{\"to\": \"+14155550100\"}', 'invalid_event', '', 1), "
                    "('d', 'm2', '{\"to\": \"+141555501000\"}', 'invalid_event', '', 1)"
                )
            )
            erase = text("SELECT dispatcher.quarantine_erase_v1(CAST(:forms AS text[]))")
            forms = {"forms": ["+14155550100", "14155550100"]}
            assert (await conn.execute(erase, forms)).scalar() == 1  # a whole string only
            kept = text("SELECT message_id FROM dispatcher.quarantine")
            assert list((await conn.execute(kept)).scalars()) == ["m2"]
    finally:
        await engine.dispose()


READERS = {
    "ingest reads a notification": (
        "SELECT n.id, l.status, c.cancelled_at FROM ingest.notifications AS n "
        "LEFT JOIN ledger.notification_status_v1() AS l ON l.id = n.id "
        "LEFT JOIN dispatcher.cancelled_v1() AS c ON c.notification_id = n.id "
        "WHERE n.id = :id"
    ),
    "ingest reads a history": ("SELECT seq FROM ledger.notification_history_v1(:id) ORDER BY seq"),
    "ingest lists callbacks": (
        "SELECT id FROM ledger.callback_deliveries_v1() WHERE tenant_id = :id "
        "ORDER BY id DESC LIMIT 10"
    ),
    "ingest reports usage": (
        "SELECT day, sum(messages) FROM ledger.usage_v1() WHERE tenant_id = :id GROUP BY day"
    ),
    "the dispatcher checks a recipient": (
        "SELECT EXISTS (SELECT 1 FROM ledger.opt_outs_v1() AS o WHERE o.recipient = 'r' "
        "AND o.phone_number_id = 's'), (SELECT w.last_inbound_at FROM ledger.windows_v1() "
        "AS w WHERE w.phone_number_id = 's' AND w.recipient = 'r'), m.marked_at "
        "FROM (SELECT 'r' AS form UNION SELECT a.alias FROM ledger.recipient_aliases_v1() "
        "AS a WHERE a.key = 'r') AS forms "
        "LEFT JOIN LATERAL ingest.inbound_mark_v1('s', forms.form) AS m ON true"
    ),
    "the dispatcher looks for unprojected inbound messages": (
        "SELECT max(a.marked_at) FROM (SELECT 'r' AS form) AS forms "
        "CROSS JOIN LATERAL ingest.inbound_messages_v1('s', forms.form) AS a "
        "WHERE NOT EXISTS (SELECT 1 FROM ledger.stored_events_v1() AS e "
        "WHERE e.event_id = a.event_id)"
    ),
    "the ledger signs a callback": (
        "SELECT secret FROM ingest.callback_secrets_v1() WHERE tenant_id = ANY(ARRAY[:id]) "
        "ORDER BY created_at DESC"
    ),
}


@pytest.mark.parametrize("statement", READERS.values(), ids=READERS.keys())
def test_relation_contracts_are_inlined_into_the_readers_plan(
    migrated: str, statement: str
) -> None:
    """A contract that were not inlined would show as a Function Scan reading every row of
    the table; inlined, the reader's filter reaches the table's index."""
    with psycopg.connect(libpq_url(migrated)) as conn:
        plan = "\n".join(
            str(r[0])
            for r in conn.execute("EXPLAIN " + statement.replace(":id", f"'{new_id()}'::uuid"))
        )
    assert "Function Scan" not in plan, plan
    assert "Scan" in plan


BIN = Path(sys.executable).parent
BEFORE = {"ingest": "0006", "dispatcher": "0003", "ledger": "0010"}
"""The revision before each service's contracts migration."""


def _command(service: str, *args: str, url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "INFO"}
    done = subprocess.run(
        [str(BIN / f"notif-{service}"), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def test_downgrades_drop_what_the_contract_migrations_create(stack: Stack) -> None:
    url = await asyncio.to_thread(stack.new_database, "contracts_down", migrated=True)
    dsn = libpq_url(url)
    everything = contracts(dsn)
    for service, revision in BEFORE.items():
        await asyncio.to_thread(_command, service, "downgrade", revision, url=url)
    left = contracts(dsn).keys()
    assert left == {
        ("ingest", "inbound_mark_v1"),
        ("ledger", "person_forms_v1"),
        ("ledger", "person_known_v1"),
    }
    for service in BEFORE:
        await asyncio.to_thread(_command, service, "migrate", url=url)
    assert contracts(dsn) == everything
