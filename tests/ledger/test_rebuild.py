"""A rebuild equals the incremental state: property-tested over random event streams with
duplicates and reorderings, and ``notifctl ledger rebuild`` swapping tables live."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from tests.conftest import Stack

from ledger import sealing, store
from ledger.optouts import DEFAULT_KEYWORDS
from ledger.rebuild import create_scratch
from ledger.tables import LIVE, ReadModel, events
from notif_core import events as ev
from notif_core.db import make_engine
from notif_core.ids import derived_id, new_id

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SENDER = "100000000000001"


def stream_for(nid: Any, to: str, wamid: str) -> list[ev.Event]:
    """Every event one notification and its recipient can produce."""
    at = [T0 + timedelta(seconds=i) for i in range(10)]
    common: dict[str, Any] = {"producer": "test", "notification_id": nid}
    return [
        ev.NotificationAccepted(
            tenant_id=new_id(),
            occurred_at=at[0],
            **common,
            payload=ev.AcceptedPayload(to=to, phone_number_id=SENDER, message={"type": "template"}),
        ),
        ev.NotificationAttemptFailed(
            occurred_at=at[1],
            **common,
            payload=ev.AttemptFailedPayload(
                error=ev.MetaError(code=131016), attempt=1, next_attempt_at=at[2]
            ),
        ),
        ev.NotificationSent(
            event_id=derived_id(wamid, "sent"),
            occurred_at=at[3],
            **common,
            payload=ev.SentPayload(wamid=wamid),
        ),
        ev.NotificationDelivered(  # Meta's webhook without our id: parked until sent
            event_id=derived_id(wamid, "delivered"),
            producer="test",
            occurred_at=at[4],
            payload=ev.StatusPayload(wamid=wamid),
        ),
        ev.NotificationRead(
            event_id=derived_id(wamid, "read"),
            occurred_at=at[5],
            **common,
            payload=ev.StatusPayload(wamid=wamid),
        ),
        ev.NotificationFailed(
            event_id=derived_id(wamid, "failed"),
            occurred_at=at[6],
            **common,
            payload=ev.FailedPayload(error=ev.MetaError(code=131050), wamid=wamid),
        ),
        ev.MessageInboundReceived(
            producer="test",
            occurred_at=at[7],
            payload=ev.InboundPayload(
                wamid=f"{wamid}.in1",
                from_=to,
                phone_number_id=SENDER,
                type="text",
                text="STOP",
                received_at=at[7],
            ),
        ),
        ev.MessageInboundReceived(
            producer="test",
            occurred_at=at[8],
            payload=ev.InboundPayload(
                wamid=f"{wamid}.in2",
                from_=to,
                phone_number_id=SENDER,
                type="text",
                text="START",
                received_at=at[8],
            ),
        ),
        ev.UsageBilled(
            event_id=derived_id(wamid, "usage"),
            producer="test",
            occurred_at=at[4],
            payload=ev.UsagePayload(wamid=wamid, category="marketing", billable=True),
        ),
    ]


async def snapshot(
    conn: Any, rm: ReadModel, nid: Any, to: str, tenants: list[Any]
) -> dict[str, Any]:
    n = rm.notifications
    rows = (await conn.execute(select(n).where(n.c.id == nid))).mappings().all()
    return {
        "notification": [{k: v for k, v in r.items() if k != "created_at"} for r in rows],
        "window": (
            await conn.execute(select(rm.windows).where(rm.windows.c.recipient == to))
        ).all(),
        "usage": (
            await conn.execute(
                select(rm.usage).where(rm.usage.c.tenant_id.in_(tenants)).order_by(rm.usage.c.day)
            )
        ).all(),
        "suppressions": sorted(
            (
                await conn.execute(
                    select(rm.suppressions.c.scope, rm.suppressions.c.source).where(
                        rm.suppressions.c.recipient == to
                    )
                )
            ).all()
        ),
    }


async def incremental_equals_replay(database_url: str, order: list[int]) -> None:
    nid, to, wamid = new_id(), f"+1416{new_id().int % 10**7:07d}", f"wamid.{new_id()}"
    pool = stream_for(nid, to, wamid)
    arrivals = [pool[i] for i in order]
    schema = f"rb_{nid.hex[-12:]}"
    engine = make_engine(database_url, pool_size=1, application_name="tests")
    try:
        for event in arrivals:  # one batch per delivery, as the consumer sees them
            async with engine.begin() as conn:
                await store.append(conn, [event])
        async with engine.begin() as conn:
            scratch = await create_scratch(conn, schema)
            ids = {e.event_id for e in pool}
            stored = await conn.execute(
                select(events.c.seq, events.c.body)
                .where(events.c.event_id.in_(ids))
                .order_by(events.c.seq)
            )
            rows = list(stored)
            opened = await sealing.opened(conn, [row.body for row in rows])
            page = [(row.seq, event) for row, event in zip(rows, opened, strict=True)]
            await store.project(conn, page, DEFAULT_KEYWORDS, scratch)
            tenants = [e.tenant_id for e in pool if e.tenant_id is not None]
            live = await snapshot(conn, LIVE, nid, to, tenants)
            rebuilt = await snapshot(conn, scratch, nid, to, tenants)
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        assert rebuilt == live
    finally:
        await engine.dispose()


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(order=st.lists(st.integers(0, 8), min_size=1, max_size=16))
def test_rebuild_equals_incremental_for_any_arrival_order(stack: Stack, order: list[int]) -> None:
    """Arrivals repeat events (duplicates) in any order (reordering)."""
    asyncio.run(incremental_equals_replay(stack.database_url, order))


@pytest.mark.e2e
async def test_notifctl_rebuild_swaps_in_an_equal_read_model(stack: Stack) -> None:
    engine = make_engine(stack.database_url, pool_size=1, application_name="tests", pre_ping=True)
    query = text(
        "SELECT id, status, wamid, last_error, attempts, sent_at, delivered_at, read_at, "
        "failed_at, updated_at FROM ledger.notifications WHERE id = :id"
    )
    windows = text("SELECT * FROM ledger.windows WHERE recipient = :to")
    to = f"+1417{new_id().int % 10**7:07d}"
    nid = new_id()
    stream = stream_for(nid, to, f"wamid.{nid}")
    try:
        async with engine.begin() as conn:
            await store.append(conn, [*stream[:5], stream[6]])
            before = (await conn.execute(query, {"id": nid})).all()
            windows_before = (await conn.execute(windows, {"to": to})).all()
        result = await asyncio.to_thread(
            subprocess.run,
            [str(Path(sys.executable).with_name("notifctl")), "ledger", "rebuild"],
            capture_output=True,
            text=True,
            check=False,
            env={**stack.env, "PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stderr
        assert "rebuilt from" in result.stdout
        async with engine.connect() as conn:
            after = (await conn.execute(query, {"id": nid})).all()
            windows_after = (await conn.execute(windows, {"to": to})).all()
            leftover = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM information_schema.schemata "
                        "WHERE schema_name = 'ledger_rebuild'"
                    )
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert len(before) == 1
    assert after == before
    assert len(windows_before) == 1
    assert windows_after == windows_before
    assert leftover == 0


async def test_verify_finds_a_tampered_read_model(stack: Stack) -> None:
    """``compare`` (``notifctl ledger verify``) on a database of its own: equal after
    appends, and a hand-edited row shows as a difference."""
    from ledger.main import migrate
    from ledger.rebuild import compare

    url = stack.new_database("verify")
    await asyncio.to_thread(migrate, url)
    engine = make_engine(url, pool_size=2, application_name="tests")
    nid, to = new_id(), f"+1418{new_id().int % 10**7:07d}"
    try:
        stream = stream_for(nid, to, f"wamid.{nid}")
        async with engine.begin() as conn:
            await store.append(conn, stream[:5])
            await store.append(conn, stream[6:])
        assert await compare(engine) == {
            "notifications": 0,
            "windows": 0,
            "suppressions": 0,
            "usage": 0,
            "recipient_aliases": 0,
        }
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE ledger.notifications SET status = 'sent' WHERE id = :id"),
                {"id": nid},
            )
        differences = await compare(engine)
        assert differences["notifications"] == 2  # the edited row, and the rebuilt one
        assert differences["windows"] == 0
    finally:
        await engine.dispose()
