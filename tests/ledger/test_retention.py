"""Retention in the ledger, on a database of its own: finished notifications and old inbound
messages go with their events, and afterwards a rebuild equals the live read models, with
usage, opt-outs and aliases intact."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack
from tests.ledger.test_recipient_identity import inbound

from ledger import retention, store
from ledger.main import migrate
from ledger.rebuild import compare, rebuild, retention_excluded
from notif_core import events as ev
from notif_core.db import make_engine
from notif_core.events import utcnow
from notif_core.ids import derived_id, new_id

SENDER = "100000000000001"
NOW = utcnow()
OLD = NOW - timedelta(days=100)
DAYS = 90
EQUAL = {"notifications": 0, "windows": 0, "suppressions": 0, "usage": 0, "recipient_aliases": 0}


def number() -> str:
    return f"+1416{new_id().int % 10**7:07d}"


def sent_stream(
    nid: UUID, to: str, at: Any, *, fail_code: int | None = None, send_at: Any = None
) -> list[ev.Event]:
    """Accepted (with a callback URL), sent with Meta's wa_id, a status parked under the
    wamid, read or failed, and billed."""
    wamid = f"wamid.{nid}"
    common: dict[str, Any] = {"producer": "test", "notification_id": nid}
    stream: list[ev.Event] = [
        ev.NotificationAccepted(
            tenant_id=TENANT,
            occurred_at=at,
            **common,
            payload=ev.AcceptedPayload(
                to=to,
                phone_number_id=SENDER,
                message={"type": "text", "text": {"body": "secret"}},
                callback_url="https://example.com/hook",
            ),
        )
    ]
    if send_at is not None:
        stream.append(
            ev.NotificationScheduled(
                occurred_at=at, **common, payload=ev.ScheduledPayload(send_at=send_at)
            )
        )
        return stream
    stream += [
        ev.NotificationSent(
            occurred_at=at + timedelta(seconds=1),
            **common,
            payload=ev.SentPayload(wamid=wamid, wa_id=to.lstrip("+")),
        ),
        ev.NotificationDelivered(  # Meta's webhook without our id: parked, then linked
            event_id=derived_id(wamid, "delivered"),
            producer="test",
            occurred_at=at + timedelta(seconds=2),
            payload=ev.StatusPayload(wamid=wamid),
        ),
        ev.UsageBilled(
            producer="test",
            occurred_at=at + timedelta(seconds=2),
            payload=ev.UsagePayload(wamid=wamid, category="marketing", billable=True),
        ),
    ]
    if fail_code is None:
        stream.append(
            ev.NotificationRead(
                occurred_at=at + timedelta(seconds=3),
                **common,
                payload=ev.StatusPayload(wamid=wamid),
            )
        )
    else:
        stream.append(
            ev.NotificationFailed(
                occurred_at=at + timedelta(seconds=3),
                **common,
                payload=ev.FailedPayload(error=ev.MetaError(code=fail_code), wamid=wamid),
            )
        )
    return stream


TENANT = new_id()


async def rows(engine: AsyncEngine, query: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(query), params)).all())


@pytest.fixture
async def ledger_db(stack: Stack) -> Any:
    url = await asyncio.to_thread(stack.new_database, "ledger_retention")
    await asyncio.to_thread(migrate, url)
    engine = make_engine(url, pool_size=3, application_name="tests")
    yield engine
    await engine.dispose()


async def test_purge_keeps_live_equal_to_a_rebuild(
    ledger_db: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = ledger_db
    monkeypatch.setattr(retention, "BATCH", 2)  # the walks take several windows
    read_old, optout_old, recent, scheduled = new_id(), new_id(), new_id(), new_id()
    to_read, to_131050, to_recent, to_sched = number(), number(), number(), number()
    stopper, chatter, paired, bsuid = number(), number(), number(), "US.1349120865530274"
    api_optout = ev.RecipientOptedOut(
        producer="test",
        occurred_at=OLD,
        payload=ev.OptPayload(phone_number_id=SENDER, recipient=chatter, source="api"),
    )
    orphan = ev.NotificationDelivered(  # a status for a message we never sent
        event_id=derived_id("wamid.elsewhere", "delivered"),
        producer="test",
        occurred_at=OLD,
        payload=ev.StatusPayload(wamid="wamid.elsewhere"),
    )
    batches: list[list[ev.Event]] = [
        sent_stream(read_old, to_read, OLD),
        sent_stream(optout_old, to_131050, OLD, fail_code=131050),
        sent_stream(scheduled, to_sched, OLD, send_at=NOW + timedelta(days=3)),
        [
            inbound("STOP", OLD, stopper),  # an opt-out older than the retention
            inbound("hello, my address is …", OLD, chatter),
            inbound("", OLD, paired, user_id=bsuid),  # pairs the BSUID with the number
            api_optout,
            orphan,
        ],
        sent_stream(recent, to_recent, NOW - timedelta(days=1)),
        [inbound("still here", NOW - timedelta(hours=1), chatter)],
    ]
    for batch in batches:  # parked first, as Meta's webhook can beat our sent event
        async with engine.begin() as conn:
            await store.append(conn, [e for e in batch if e.notification_id is None])
            await store.append(conn, [e for e in batch if e.notification_id is not None])
    async with engine.begin() as conn:  # rows written long ago, as they would have been
        await conn.execute(text("ALTER TABLE ledger.events DISABLE TRIGGER events_append_only"))
        await conn.execute(
            text("UPDATE ledger.events SET recorded_at = occurred_at WHERE occurred_at < :t"),
            {"t": NOW - timedelta(days=DAYS)},
        )
        await conn.execute(text("ALTER TABLE ledger.events ENABLE TRIGGER events_append_only"))
        await conn.execute(
            text("UPDATE ledger.notifications SET created_at = accepted_at WHERE id = ANY(:ids)"),
            {"ids": [read_old, optout_old, scheduled]},
        )
    usage_before = await rows(engine, "SELECT * FROM ledger.usage ORDER BY country")
    suppressions_before = await rows(
        engine, "SELECT * FROM ledger.suppressions ORDER BY recipient, scope"
    )
    aliases_before = await rows(engine, "SELECT * FROM ledger.recipient_aliases ORDER BY alias")
    callbacks_before = await rows(engine, "SELECT notification_id FROM ledger.callbacks")
    assert {c.notification_id for c in callbacks_before} >= {read_old, optout_old}
    assert sum(u.messages for u in usage_before) == 3

    counts = await retention.purge(engine, DAYS)

    assert counts is not None
    assert counts["ledger.notifications"] == 2
    # the STOP's, and the pairing's under both keys; chatter's has a fresh message
    assert counts["ledger.windows"] == 3
    kept = await rows(engine, "SELECT id FROM ledger.notifications ORDER BY id")
    assert {r.id for r in kept} == {recent, scheduled}
    left = await rows(
        engine,
        "SELECT type, notification_id, wamid FROM ledger.events "
        "WHERE notification_id = ANY(:ids) OR wamid = ANY(:wamids) OR occurred_at < :cutoff",
        ids=[read_old, optout_old],
        wamids=[f"wamid.{read_old}", f"wamid.{optout_old}", "wamid.elsewhere"],
        cutoff=NOW - timedelta(days=DAYS),
    )
    assert sorted(r.type for r in left) == [
        "notification.accepted",  # the scheduled one, still to be sent
        "notification.scheduled",
        "recipient.opted_out",
    ]
    callbacks = await rows(engine, "SELECT notification_id FROM ledger.callbacks")
    assert {c.notification_id for c in callbacks} <= {recent, scheduled}
    # What the customer sees and what billing needs did not change...
    assert await rows(engine, "SELECT * FROM ledger.usage ORDER BY country") == usage_before
    assert (
        await rows(engine, "SELECT * FROM ledger.suppressions ORDER BY recipient, scope")
        == suppressions_before
    )
    assert (
        await rows(engine, "SELECT * FROM ledger.recipient_aliases ORDER BY alias")
        == aliases_before
    )
    # ...and a rebuild from what is left gives exactly the live read models.
    assert await compare(engine) == EQUAL
    await rebuild(engine)
    assert await rows(engine, "SELECT * FROM ledger.usage ORDER BY country") == usage_before
    stopped = await rows(
        engine,
        "SELECT scope, source FROM ledger.suppressions WHERE recipient IN (:a, :b) "
        "AND since IS NOT NULL ORDER BY scope",
        a=stopper,
        b=to_131050,
    )
    assert [(s.scope, s.source) for s in stopped] == [
        ("all", "keyword"),
        ("marketing", "meta_error"),
    ]
    # A second pass finds nothing more, and a rebuild after it is still equal.
    again = await retention.purge(engine, DAYS)
    assert again is not None
    assert sum(again.values()) == 0
    assert await compare(engine) == EQUAL


async def test_purge_stands_aside_for_a_rebuild_and_when_off(ledger_db: AsyncEngine) -> None:
    assert await retention.purge(ledger_db, 0) is None  # 0 days: keep everything
    async with retention_excluded(ledger_db) as taken:
        assert taken
        assert await retention.purge(ledger_db, DAYS) is None
    counts = await retention.purge(ledger_db, DAYS)
    assert counts is not None
    assert sum(counts.values()) == 0
