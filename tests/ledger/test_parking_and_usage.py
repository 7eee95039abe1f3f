"""Statuses that arrive before their ``sent`` are parked, then applied; usage is counted once
per message by tenant, day, category, billable flag and country; every status has its time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import store
from ledger.consumer import EventsHandler
from ledger.tables import events, notifications, usage
from notif_core import events as ev
from notif_core.ids import derived_id, new_id
from notif_core.sqs import Delivery

T0 = datetime(2026, 11, 27, 23, 59, 58, tzinfo=UTC)


def accepted(nid: UUID, tenant: UUID, to: str = "+447700900123") -> ev.NotificationAccepted:
    return ev.NotificationAccepted(
        producer="test",
        notification_id=nid,
        tenant_id=tenant,
        occurred_at=T0,
        payload=ev.AcceptedPayload(to=to, message={"type": "template"}),
    )


def sent(nid: UUID, wamid: str) -> ev.NotificationSent:
    """The dispatcher's event: it names the notification and the wamid Meta returned."""
    return ev.NotificationSent(
        event_id=derived_id(wamid, "sent"),
        producer="dispatcher",
        notification_id=nid,
        occurred_at=T0 + timedelta(seconds=1),
        payload=ev.SentPayload(wamid=wamid),
    )


def by_wamid(kind: str, wamid: str, seconds: int) -> ev.Event:
    """A webhook status that names only the wamid (no biz_opaque_callback_data)."""
    model = ev.NotificationDelivered if kind == "delivered" else ev.NotificationRead
    return model(
        event_id=derived_id(wamid, kind),
        producer="ingest",
        occurred_at=T0 + timedelta(seconds=seconds),
        payload=ev.StatusPayload(wamid=wamid),
    )


def billed(wamid: str, category: str = "utility", billable: bool = True) -> ev.UsageBilled:
    return ev.UsageBilled(
        event_id=derived_id(wamid, "usage"),
        producer="ingest",
        occurred_at=T0 + timedelta(seconds=3),  # the next UTC day: usage counts by this time
        payload=ev.UsagePayload(
            wamid=wamid, category=category, billable=billable, pricing_model="PMP"
        ),
    )


async def append(engine: AsyncEngine, *batches: list[ev.Event]) -> None:
    for batch in batches:
        async with engine.begin() as conn:
            await store.append(conn, batch)


async def row(engine: AsyncEngine, nid: UUID) -> dict[str, Any]:
    async with engine.connect() as conn:
        found = (await conn.execute(select(notifications).where(notifications.c.id == nid))).one()
    return dict(found._mapping)


async def usage_of(engine: AsyncEngine, tenant: UUID) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                usage.c.day, usage.c.category, usage.c.billable, usage.c.country, usage.c.messages
            )
            .where(usage.c.tenant_id == tenant)
            .order_by(usage.c.category, usage.c.country)
        )
        return [tuple(r) for r in rows]


async def test_statuses_before_sent_are_parked_then_applied(engine: AsyncEngine) -> None:
    nid, tenant, wamid = new_id(), new_id(), f"wamid.{new_id()}"
    await append(
        engine,
        [accepted(nid, tenant)],
        [by_wamid("read", wamid, 4)],  # Meta's read overtook our sent
        [by_wamid("delivered", wamid, 3)],
    )
    assert (await row(engine, nid))["status"] == "accepted"
    async with engine.connect() as conn:
        parked = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM ledger.events "
                    "WHERE wamid = :w AND notification_id IS NULL"
                ),
                {"w": wamid},
            )
        ).scalar_one()
    assert parked == 2  # stored, as they came, naming no notification
    await append(engine, [sent(nid, wamid)])
    linked = await row(engine, nid)
    assert linked["status"] == "read"
    assert linked["wamid"] == wamid
    assert linked["sent_at"] == T0 + timedelta(seconds=1)
    assert linked["delivered_at"] == T0 + timedelta(seconds=3)
    assert linked["read_at"] == T0 + timedelta(seconds=4)


async def test_a_parked_status_in_the_same_batch_as_its_sent(engine: AsyncEngine) -> None:
    nid, tenant, wamid = new_id(), new_id(), f"wamid.{new_id()}"
    await append(engine, [accepted(nid, tenant), by_wamid("delivered", wamid, 3), sent(nid, wamid)])
    assert (await row(engine, nid))["status"] == "delivered"


async def test_statuses_after_sent_find_their_notification_by_wamid(engine: AsyncEngine) -> None:
    nid, tenant, wamid = new_id(), new_id(), f"wamid.{new_id()}"
    await append(engine, [accepted(nid, tenant), sent(nid, wamid)], [by_wamid("read", wamid, 4)])
    assert (await row(engine, nid))["status"] == "read"


async def test_usage_counts_each_message_once_whichever_comes_first(engine: AsyncEngine) -> None:
    tenant = new_id()
    first, second, free = (new_id() for _ in range(3))
    w1, w2, w3 = (f"wamid.{new_id()}" for _ in range(3))
    await append(
        engine,
        [billed(w1)],  # before anything else: parked until the wamid is linked
        [accepted(first, tenant), sent(first, w1)],
        [accepted(second, tenant, "+5511987654321"), sent(second, w2), billed(w2)],
        [billed(w2)],  # Meta repeats pricing on delivered and read: one event id, one count
        [accepted(free, tenant), sent(free, w3), billed(w3, "service", billable=False)],
    )
    day = (T0 + timedelta(seconds=3)).date()
    assert await usage_of(engine, tenant) == [
        (day, "service", False, "GB", 1),
        (day, "utility", True, "BR", 1),
        (day, "utility", True, "GB", 1),
    ]
    priced = await row(engine, first)
    assert (priced["pricing_category"], priced["billable"], priced["pricing_model"]) == (
        "utility",
        True,
        "PMP",
    )


async def test_terminal_statuses_keep_their_time(engine: AsyncEngine) -> None:
    expired_id, cancelled_id, suppressed_id, tenant = new_id(), new_id(), new_id(), new_id()
    at = T0 + timedelta(minutes=5)
    await append(
        engine,
        [
            accepted(expired_id, tenant),
            ev.NotificationExpired(
                producer="dispatcher",
                notification_id=expired_id,
                occurred_at=at,
                payload=ev.ExpiredPayload(expires_at=at),
            ),
            accepted(cancelled_id, tenant),
            ev.NotificationCancelled(
                producer="ingest",
                notification_id=cancelled_id,
                occurred_at=at,
                payload=ev.CancelledPayload(reason="client"),
            ),
            accepted(suppressed_id, tenant),
            ev.NotificationSuppressed(
                producer="dispatcher",
                notification_id=suppressed_id,
                occurred_at=at,
                payload=ev.SuppressedPayload(reason="opted_out"),
            ),
        ],
    )
    for nid, status in ((expired_id, "expired"), (cancelled_id, "cancelled")):
        found = await row(engine, nid)
        assert (found["status"], found[f"{status}_at"], found["accepted_at"]) == (status, at, T0)
    assert (await row(engine, suppressed_id))["suppressed_at"] == at


async def test_a_batch_with_a_duplicate_inside_counts_it_once(engine: AsyncEngine) -> None:
    nid, tenant = new_id(), new_id()
    failure = ev.NotificationAttemptFailed(
        producer="dispatcher",
        notification_id=nid,
        occurred_at=T0,
        payload=ev.AttemptFailedPayload(
            error=ev.MetaError(code=131016), attempt=1, next_attempt_at=T0
        ),
    )
    await append(engine, [accepted(nid, tenant), failure, failure], [failure])
    assert (await row(engine, nid))["attempts"] == 1
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                select(text("count(*)")).select_from(events).where(events.c.notification_id == nid)
            )
        ).scalar_one()
    assert stored == 2


async def test_one_poison_event_does_not_hold_back_its_batch(engine: AsyncEngine) -> None:
    """PostgreSQL refuses a NUL character: that event alone is set aside (as is a body that is
    not an event), and the rest of the batch is projected."""
    good, bad, tenant = new_id(), new_id(), new_id()
    poison = accepted(bad, tenant)
    poison = poison.model_copy(
        update={"payload": poison.payload.model_copy(update={"metadata": {"x": "\x00"}})}
    )
    bodies = [ev.dump_event(e) for e in (accepted(good, tenant), poison)]
    deliveries = [
        Delivery("queue", f"m{i}", f"r{i}", body, receive_count=1) for i, body in enumerate(bodies)
    ]
    deliveries.append(Delivery("queue", "m9", "r9", "not an event", receive_count=1))
    outcomes = await EventsHandler(engine)(deliveries)
    assert [o.delete for o in outcomes] == [True, True, True]
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT message_id, reason FROM ledger.quarantine "
                "WHERE queue = 'queue' AND message_id IN ('m1', 'm9')"
            )
        )
        reasons = {r.message_id: r.reason for r in found}
    assert reasons == {"m1": "handler_error", "m9": "unparseable"}
    assert (await row(engine, good))["status"] == "accepted"
