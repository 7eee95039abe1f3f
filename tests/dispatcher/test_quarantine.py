"""The dispatcher sets aside what it can never dispatch, with its reason, and dispatches
what follows; a command it cannot handle ends its notification failed, code quarantined."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID

import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import recipient
from tests.e2e.api import hello, post, wait_status
from tests.e2e.services import Services

from notif_core import events as ev
from notif_core import quarantine
from notif_core.ids import new_id
from notif_core.settings import CoreSettings
from notif_core.sqs import QueueKey, QueueNames, sqs_client

pytestmark = pytest.mark.e2e


async def send(lane: QueueKey, body: str) -> str:
    """Put ``body`` on a lane's queue as is; the message id."""
    names = QueueNames(CoreSettings().queue_prefix)
    async with sqs_client(CoreSettings()) as sqs:
        url = (await sqs.get_queue_url(QueueName=getattr(names, lane)))["QueueUrl"]
        return (await sqs.send_message(QueueUrl=url, MessageBody=body))["MessageId"]


async def set_aside(engine: AsyncEngine, message_ids: list[str], within: float = 20) -> list[Any]:
    """The ``dispatcher.quarantine`` rows of these messages, once all are there."""
    deadline = time.monotonic() + within
    while True:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT * FROM dispatcher.quarantine WHERE message_id = ANY(:ids) "
                        "ORDER BY id"
                    ),
                    {"ids": message_ids},
                )
            ).all()
        if len(rows) == len(message_ids) or time.monotonic() > deadline:
            return list(rows)
        await asyncio.sleep(0.2)


async def test_garbage_and_non_events_are_set_aside_and_what_follows_is_sent(
    services: Services, api_key: str, engine: AsyncEngine
) -> None:
    garbage = await send("dispatch", "garbage {")
    stray = await send("dispatch", '{"hello": "world"}')
    nid = post(services, api_key, hello(recipient())).json()["id"]
    await asyncio.to_thread(wait_status, services, api_key, nid, "read", 60)
    rows = await set_aside(engine, [garbage, stray])
    assert [(r.message_id, r.reason) for r in rows] == [
        (garbage, "unparseable"),
        (stray, "invalid_event"),
    ]
    assert rows[0].body == "garbage {"
    assert all(r.queue.endswith("-dispatch") and r.notification_id is None for r in rows)


async def test_a_command_that_cannot_be_handled_ends_failed_quarantined(
    services: Services, api_key: str, engine: AsyncEngine
) -> None:
    # The tenant of our key, as the ledger recorded it for a real notification.
    first = post(services, api_key, hello(recipient())).json()["id"]
    await asyncio.to_thread(wait_status, services, api_key, first, "read", 60)
    tenant = await _tenant(engine, first)
    nid = new_id()
    command = ev.NotificationAccepted(
        producer="ingest",
        notification_id=nid,
        tenant_id=tenant,
        payload=ev.AcceptedPayload(to=recipient(), message={"type": "template"}),
    )
    await send("events", ev.dump_event(command))  # the ledger knows it as accepted
    broken = orjson.loads(ev.dump_event(command))
    del broken["payload"]["to"]  # valid JSON, names its notification, not a valid command
    message_id = await send("dispatch", orjson.dumps(broken).decode())
    # It never went through ingest's API, so the ledger's read model is where it is seen.
    view = await _settled(engine, nid, within=30)
    assert view.status == "failed", view
    assert view.last_error["code"] == "quarantined", view
    assert view.last_error["details"] == "invalid_event"
    [row] = await set_aside(engine, [message_id])
    assert (row.reason, row.notification_id, row.tenant_id) == ("invalid_event", nid, tenant)
    assert "payload.to" in row.detail
    async with engine.connect() as conn:
        state = (
            await conn.execute(
                text("SELECT state FROM dispatcher.claims WHERE notification_id = :id"),
                {"id": nid},
            )
        ).scalar_one()
    assert state == "failed"


async def _settled(engine: AsyncEngine, nid: UUID, within: float) -> Any:
    """The ledger's row of ``nid`` once it left ``accepted`` (or as it is at the deadline)."""
    deadline = time.monotonic() + within
    while True:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT status, last_error FROM ledger.notifications WHERE id = :id"),
                    {"id": nid},
                )
            ).first()
        if (row is not None and row.status != "accepted") or time.monotonic() > deadline:
            return row
        await asyncio.sleep(0.2)


async def _tenant(engine: AsyncEngine, nid: str) -> UUID:
    async with engine.connect() as conn:
        return (  # type: ignore[no-any-return]
            await conn.execute(
                text("SELECT tenant_id FROM ledger.notifications WHERE id = :id"), {"id": nid}
            )
        ).scalar_one()


def test_outages_are_told_from_poison() -> None:
    import psycopg
    import sqlalchemy.exc

    down = sqlalchemy.exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("refused"))
    assert quarantine.is_outage(down)
    assert quarantine.is_outage(ConnectionRefusedError())
    wrapped = RuntimeError("publish failed")
    wrapped.__cause__ = TimeoutError()
    assert quarantine.is_outage(wrapped)
    assert not quarantine.is_outage(KeyError("payload"))
    assert not quarantine.is_outage(
        sqlalchemy.exc.DataError("INSERT", {}, psycopg.DataError("bad"))
    )
