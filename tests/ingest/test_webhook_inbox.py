"""The webhook inbox on a database of its own: every body is kept, and an event already
queued (a redelivered webhook, a price repeated on each status) is not queued again."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import text
from tests.conftest import Stack
from tests.ingest.test_meta_webhooks import envelope

from ingest.metrics import GROUP_SIZE
from ingest.webhooks.webhook_inbox import RecentIds, WebhookInbox
from notif_core.db import make_engine
from notif_core.ids import new_id

PRICING = {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}


def statuses(*kinds: str) -> bytes:
    items = [
        {"id": "wamid.I", "status": k, "timestamp": "1764244800", "pricing": PRICING} for k in kinds
    ]
    return json.dumps(envelope({"statuses": items})).encode()


async def test_an_event_is_queued_once_and_every_body_kept(stack: Stack) -> None:
    database_url = await asyncio.to_thread(stack.new_database, "inbox", migrated=True)
    engine = make_engine(database_url, pool_size=1)
    inbox = WebhookInbox(engine)

    assert await inbox.store(statuses("sent", "delivered")) == 3  # sent, delivered, usage
    assert await inbox.store(statuses("sent", "delivered")) == 0  # Meta redelivered it
    assert await inbox.store(statuses("read")) == 1  # read; its price was queued already

    async with engine.connect() as conn:
        queued = (
            await conn.execute(text("SELECT body::jsonb->>'type' FROM ingest.outbox ORDER BY id"))
        ).scalars()
        bodies = (await conn.execute(text("SELECT count(*) FROM ingest.webhook_inbox"))).scalar()
        assert list(queued) == [
            "notification.sent",
            "usage.billed",
            "notification.delivered",
            "notification.read",
        ]
        assert bodies == 3
    await inbox.stop()
    await engine.dispose()


def test_recent_ids_forget_the_oldest_first() -> None:
    recent = RecentIds(size=3)
    ids = [new_id() for _ in range(4)]
    recent.add(ids[:3])
    recent.add([ids[0]])  # seen again: now the newest
    recent.add([ids[3]])
    assert [i in recent for i in ids] == [True, False, True, True]


async def test_concurrent_status_bodies_share_a_commit_and_are_kept_byte_for_byte(
    stack: Stack,
) -> None:
    database_url = await asyncio.to_thread(stack.new_database, "inbox_group", migrated=True)
    engine = make_engine(database_url, pool_size=2)
    inbox = WebhookInbox(engine)
    groups = GROUP_SIZE.labels("webhooks")
    groups_before = _count(groups)

    def one(n: int) -> bytes:
        item = {"id": f"wamid.G{n}", "status": "delivered", "timestamp": "1764244800"}
        body = envelope({"statuses": [item]}) | {"note": "é ✓ \U0001f4e6"}
        return json.dumps(body, ensure_ascii=False).encode()

    bodies = [one(n) for n in range(40)] + [one(0)]  # the last: the first, delivered twice
    queued = await asyncio.gather(*(inbox.store(body) for body in bodies))
    await inbox.stop()

    assert sum(queued) == 41  # each body's status, and the repeat's too: neither was committed
    assert _count(groups) - groups_before < len(bodies) / 4
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT body, processed_at IS NOT NULL FROM ingest.webhook_inbox")
            )
        ).all()
        events = (
            await conn.execute(text("SELECT count(DISTINCT event_id), count(*) FROM ingest.outbox"))
        ).one()
    await engine.dispose()
    assert sorted(bytes(row[0]) for row in stored) == sorted(bodies)
    assert all(row[1] for row in stored)
    assert tuple(events) == (40, 40)  # the repeated status queued once


def _count(histogram: Any) -> float:
    """How many observations a histogram child holds."""
    return float(next(s.value for s in histogram.collect()[0].samples if s.name.endswith("_count")))
