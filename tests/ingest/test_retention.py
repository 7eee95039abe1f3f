"""Retention on a database of its own: old published outbox rows, processed webhook bodies
and notifications past ``NOTIFICATION_RETENTION_DAYS`` go, in batches; anything still due,
never processed or scheduled to be sent later stays. A purged notification reads as 404."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from tests.conftest import Stack

from ingest.notifications.read_model import notification_view
from ingest.relay import retention
from ingest.relay.process import purge_expired
from ingest.settings import IngestSettings
from notif_core.db import make_engine
from notif_core.ids import new_id

OUTBOX_ROW = """
INSERT INTO ingest.outbox (queue, event_id, body, available_at, created_at, published_at)
VALUES ('events', :event_id, :body, now() + make_interval(hours => :due_in),
        now() - make_interval(hours => :age), now() - make_interval(hours => :published_ago))
"""
NOTIFICATION_ROW = """
INSERT INTO ingest.notifications (id, tenant_id, "to", priority, request, send_at, created_at)
VALUES (:id, :tenant, '+14165550100', 'normal', '{"metadata": {"order": 1}}',
        now() + make_interval(days => :send_in), now() - make_interval(days => :age))
"""
INBOX_ROW = """
INSERT INTO ingest.webhook_inbox (body, received_at, processed_at)
VALUES (:body, now() - make_interval(hours => :age), now() - make_interval(hours => :processed_ago))
"""


async def test_expired_rows_go_and_live_ones_stay(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = await asyncio.to_thread(stack.new_database, "retention", migrated=True)
    monkeypatch.setattr(retention, "BATCH", 2)  # the walk takes several windows
    engine = make_engine(database_url, pool_size=1)

    def outbox_row(
        name: str, published_ago: float | None, due_in: float = 0, age: float = 200
    ) -> dict[str, object]:
        return {
            "event_id": new_id(),
            "body": name,
            "due_in": due_in,
            "age": age,
            "published_ago": published_ago,
        }

    # Oldest first by id: a row still due and one published late must not end the walk.
    rows = [outbox_row("scheduled", None, due_in=240), outbox_row("recent", published_ago=1)]
    rows += [outbox_row(f"old{n}", published_ago=30) for n in range(5)]
    rows += [outbox_row("young", published_ago=0, age=1)]  # the walk ends at its window
    bodies = [{"body": f"old{n}".encode(), "age": 100, "processed_ago": 80} for n in range(5)]
    bodies += [
        {"body": b"recent", "age": 100, "processed_ago": 1},
        {"body": b"untranslated", "age": 100, "processed_ago": None},
    ]
    tenant = new_id()
    # Oldest first by id: past the retention, scheduled within it, scheduled after it, young.
    notifications = {name: new_id() for name in ("old", "sent_late", "due_later", "young")}
    ages = {"old": (100, None), "sent_late": (200, -95), "due_later": (100, 3), "young": (1, None)}
    async with engine.begin() as conn:
        await conn.execute(text(OUTBOX_ROW), rows)
        await conn.execute(text(INBOX_ROW), bodies)
        await conn.execute(
            text("INSERT INTO ingest.tenants (id, name) VALUES (:id, 'retention')"), {"id": tenant}
        )
        await conn.execute(
            text(NOTIFICATION_ROW),
            [
                {"id": notifications[n], "tenant": tenant, "age": age, "send_in": send_in}
                for n, (age, send_in) in ages.items()
            ],
        )

    await purge_expired(
        engine, IngestSettings(database_url=database_url, notification_retention_days=90)
    )

    async with engine.connect() as conn:
        kept = (await conn.execute(text("SELECT body FROM ingest.outbox ORDER BY id"))).scalars()
        kept_bodies = (
            await conn.execute(text("SELECT body FROM ingest.webhook_inbox ORDER BY id"))
        ).scalars()
        assert list(kept) == ["scheduled", "recent", "young"]
        assert [bytes(b) for b in kept_bodies] == [b"recent", b"untranslated"]
        views = {
            name: await notification_view(conn, tenant, nid) for name, nid in notifications.items()
        }
        assert {name for name, view in views.items() if view is not None} == {"due_later", "young"}
    await engine.dispose()
