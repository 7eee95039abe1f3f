"""The event store on real PostgreSQL: idempotent appends, projection, append-only guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import store
from ledger.tables import events, notifications
from notif_core import events as ev
from notif_core.ids import derived_id, new_id

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def accepted(nid: UUID, tenant: UUID) -> ev.NotificationAccepted:
    return ev.NotificationAccepted(
        producer="test",
        notification_id=nid,
        tenant_id=tenant,
        occurred_at=T0,
        payload=ev.AcceptedPayload(
            to="+15551234567", message={"type": "text", "text": {"body": "x"}}
        ),
    )


def status(kind: str, nid: UUID | None, wamid: str, at: datetime) -> ev.Event:
    if kind == "sent":
        return ev.NotificationSent(
            event_id=derived_id(wamid, "sent"),
            producer="test",
            notification_id=nid,
            occurred_at=at,
            payload=ev.SentPayload(wamid=wamid),
        )
    model = ev.NotificationDelivered if kind == "delivered" else ev.NotificationRead
    return model(
        event_id=derived_id(wamid, kind),
        producer="test",
        notification_id=nid,
        occurred_at=at,
        payload=ev.StatusPayload(wamid=wamid),
    )


async def row(engine: AsyncEngine, nid: UUID) -> dict[str, object]:
    async with engine.connect() as conn:
        found = (await conn.execute(select(notifications).where(notifications.c.id == nid))).one()
    return dict(found._mapping)


async def test_replaying_a_batch_stores_nothing_new(engine: AsyncEngine) -> None:
    nid, tenant = new_id(), new_id()
    batch = [accepted(nid, tenant), status("sent", nid, f"wamid.{nid}", T0 + timedelta(seconds=1))]
    async with engine.begin() as conn:
        assert (await store.append(conn, batch)).new == 2
    async with engine.begin() as conn:
        assert (await store.append(conn, batch)).new == 0
    async with engine.connect() as conn:
        count = (
            await conn.execute(
                select(text("count(*)")).select_from(events).where(events.c.notification_id == nid)
            )
        ).scalar_one()
    assert count == 2
    assert (await row(engine, nid))["status"] == "sent"


async def test_out_of_order_statuses_end_at_read_with_every_timestamp(engine: AsyncEngine) -> None:
    nid, tenant, wamid = new_id(), new_id(), f"wamid.{new_id()}"
    arrivals = [
        status("read", nid, wamid, T0 + timedelta(seconds=3)),
        status("delivered", nid, wamid, T0 + timedelta(seconds=2)),
        accepted(nid, tenant),
        status("sent", nid, wamid, T0 + timedelta(seconds=1)),
    ]
    for event in arrivals:
        async with engine.begin() as conn:
            await store.append(conn, [event])
    projected = await row(engine, nid)
    assert projected["status"] == "read"
    assert projected["tenant_id"] == tenant
    assert projected["wamid"] == wamid
    assert projected["sent_at"] == T0 + timedelta(seconds=1)
    assert projected["delivered_at"] == T0 + timedelta(seconds=2)


async def test_status_without_our_id_is_matched_by_wamid(engine: AsyncEngine) -> None:
    nid, wamid = new_id(), f"wamid.{new_id()}"
    async with engine.begin() as conn:
        await store.append(conn, [accepted(nid, new_id()), status("sent", nid, wamid, T0)])
        await store.append(conn, [status("delivered", None, wamid, T0 + timedelta(seconds=1))])
    assert (await row(engine, nid))["status"] == "delivered"


async def test_events_cannot_be_updated_or_deleted(engine: AsyncEngine) -> None:
    nid = new_id()
    async with engine.begin() as conn:
        await store.append(conn, [accepted(nid, new_id())])
    for statement in (
        "UPDATE ledger.events SET type = 'x' WHERE notification_id = :id",
        "DELETE FROM ledger.events WHERE notification_id = :id",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement), {"id": nid})
