"""The ledger sets aside what it can never project, with its reason, and projects the rest of
the batch and everything behind it; a database outage sets nothing aside."""

from __future__ import annotations

import asyncio
import time
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack, recipient
from tests.e2e.api import hello, post, wait_status
from tests.e2e.services import Services

from ledger.consumer import EventsHandler
from ledger.quarantine import TABLE
from notif_core import events as ev
from notif_core import quarantine
from notif_core.db import make_engine
from notif_core.ids import new_id
from notif_core.settings import CoreSettings
from notif_core.sqs import Delivery, QueueNames, sqs_client

QUEUE_URL = "http://127.0.0.1/000000000000/test-events"


def accepted(nid: UUID, metadata: dict[str, str] | None = None) -> ev.NotificationAccepted:
    return ev.NotificationAccepted(
        producer="test",
        notification_id=nid,
        tenant_id=new_id(),
        payload=ev.AcceptedPayload(to=recipient(), message={"type": "template"}, metadata=metadata),
    )


def delivery(body: str, receive_count: int = 1) -> Delivery:
    return Delivery(QUEUE_URL, str(new_id()), "handle", body, receive_count)


async def quarantined(engine: AsyncEngine, message_ids: list[str]) -> dict[str, tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT message_id, reason, detail FROM ledger.quarantine "
                "WHERE message_id = ANY(:ids)"
            ),
            {"ids": message_ids},
        )
        return {r.message_id: (r.reason, r.detail) for r in rows}


async def status(engine: AsyncEngine, nid: UUID) -> str | None:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT status FROM ledger.notifications WHERE id = :id"), {"id": nid}
            )
        ).scalar_one_or_none()


async def test_one_batch_poison_is_set_aside_and_the_rest_projected(engine: AsyncEngine) -> None:
    good, bad = new_id(), new_id()
    # PostgreSQL's jsonb refuses \u0000: this event parses, and its projection always fails.
    poison = accepted(bad, metadata={"note": "a\u0000b"})
    batch = [
        delivery("this is not json"),
        delivery('{"hello": "world"}'),
        delivery('{"type": "notification.teleported", "notification_id": "x"}'),
        delivery(ev.dump_event(poison)),
        delivery(ev.dump_event(accepted(good))),
    ]
    outcomes = await EventsHandler(engine)(batch)
    assert [o.delete for o in outcomes] == [True] * 5
    found = await quarantined(engine, [d.message_id for d in batch])
    reasons = [found.get(d.message_id, ("-", ""))[0] for d in batch]
    assert reasons == ["unparseable", "invalid_event", "unexpected_type", "handler_error", "-"]
    assert "DataError" in found[batch[3].message_id][1]
    assert await status(engine, good) == "accepted"
    assert await status(engine, bad) is None
    async with engine.connect() as conn:
        row = (
            await conn.execute(TABLE.select().where(TABLE.c.message_id == batch[3].message_id))
        ).one()
    assert (row.notification_id, row.tenant_id) == (bad, poison.tenant_id)
    assert row.body == batch[3].body
    assert row.queue == "test-events"


async def test_a_database_outage_sets_nothing_aside(stack: Stack, engine: AsyncEngine) -> None:
    """Unreachable database on the last receive: the event is retried, not set aside."""
    dead = make_engine(
        stack.database_url.replace(f":{stack.ports.postgres}/", ":1/"),
        pool_size=1,
        application_name="tests",
    )
    try:
        batch = [delivery(ev.dump_event(accepted(new_id())), receive_count=4)]
        outcomes = await EventsHandler(dead)(batch)
    finally:
        await dead.dispose()
    assert [(o.delete, o.retry_after is not None) for o in outcomes] == [(False, True)]
    assert await quarantined(engine, [batch[0].message_id]) == {}


def test_shared_table_shape_matches_both_migrations(stack: Stack) -> None:
    import psycopg

    from notif_core.db import libpq_url

    with psycopg.connect(libpq_url(stack.database_url)) as conn:
        for schema in ("dispatcher", "ledger"):
            columns = {
                name
                for (name,) in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = 'quarantine'",
                    (schema,),
                )
            }
            assert columns == {c.name for c in TABLE.columns}, schema


@pytest.mark.e2e
async def test_poison_on_the_events_queue_does_not_hold_what_follows(
    services: Services, api_key: str, engine: AsyncEngine
) -> None:
    names = QueueNames(CoreSettings().queue_prefix)
    async with sqs_client(CoreSettings()) as sqs:
        url = (await sqs.get_queue_url(QueueName=names.events))["QueueUrl"]
        garbage = await sqs.send_message(QueueUrl=url, MessageBody="garbage{")
        stray = await sqs.send_message(QueueUrl=url, MessageBody='{"not": "an event"}')
    nid = post(services, api_key, hello(recipient())).json()["id"]
    await asyncio.to_thread(wait_status, services, api_key, nid, "read", 60)
    ids = [garbage["MessageId"], stray["MessageId"]]
    deadline = time.monotonic() + 20
    found = await quarantined(engine, ids)
    while len(found) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        found = await quarantined(engine, ids)
    assert {k: v[0] for k, v in found.items()} == dict(
        zip(ids, ["unparseable", "invalid_event"], strict=True)
    )


def test_last_receive_is_one_before_the_redrive() -> None:
    from notif_core.sqs.limits import DEFAULT_MAX_RECEIVE_COUNT

    assert quarantine.LAST_RECEIVE == DEFAULT_MAX_RECEIVE_COUNT - 1
