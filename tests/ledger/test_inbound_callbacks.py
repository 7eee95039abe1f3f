"""Inbound messages called back to the tenant that owns the number: signed like status
callbacks, once however often Meta delivers the message, and ``in_reply_to`` naming the
notification answered only when it is the same tenant's."""

from __future__ import annotations

import json
from datetime import timedelta
from uuid import UUID

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.ledger.test_callbacks import (
    T0,
    Receiver,
    deliverer,
    drain_where,
    lifecycle,
    receiver,  # noqa: F401 - the fixture
    tenant_with_secret,
    verify,
)

from ledger import store
from notif_core import events as ev
from notif_core.ids import derived_id, new_id


def tap(tenant: UUID | None, url: str | None, replied_to: str | None) -> ev.MessageInboundReceived:
    wamid = f"wamid.IN{new_id().hex}"
    return ev.MessageInboundReceived(
        event_id=derived_id(wamid, "inbound"),
        producer="test",
        tenant_id=tenant,
        occurred_at=T0 + timedelta(seconds=5),
        payload=ev.InboundPayload(
            wamid=wamid,
            from_="+14155550101",
            phone_number_id="100000000000001",
            type="button",
            received_at=T0 + timedelta(seconds=5),
            content={"text": "Confirm", "payload": "CONFIRM"},
            context_wamid=replied_to,
            profile_name="Ada",
            callback_url=url,
        ),
    )


async def deliver(engine: AsyncEngine, events: list[UUID], seconds: float = 10) -> None:
    async with httpx.AsyncClient() as http:
        worker = deliverer(engine, http)
        await drain_where(worker, engine, "event_id = ANY(:ids)", {"ids": events}, seconds)


async def test_a_reply_is_called_back_once_signed_naming_the_notification(
    engine: AsyncEngine,
    receiver: Receiver,  # noqa: F811 - the fixture imported above
) -> None:
    tenant, secret = await tenant_with_secret(engine)
    nid = new_id()
    async with engine.begin() as conn:
        await store.append(conn, lifecycle(nid, tenant, receiver.url)[:2])
    reply = tap(tenant, receiver.url, f"wamid.{nid}")
    for _ in range(2):  # Meta delivered the webhook twice
        async with engine.begin() as conn:
            await store.append(conn, [reply])
    await deliver(engine, [reply.event_id])
    inbound = [
        (headers, json.loads(raw))
        for headers, raw in receiver.received
        if json.loads(raw).get("type") == "message.received"
    ]
    assert len(inbound) == 1
    headers, body = inbound[0]
    raw = next(r for h, r in receiver.received if h is headers)
    assert verify(headers["X-Notif-Signature"], raw, secret)
    assert body["in_reply_to"] == str(nid)
    assert body["kind"] == "button"
    assert body["button"] == {"text": "Confirm", "payload": "CONFIRM"}
    assert body["id"] == str(reply.event_id)
    assert body["from"] == "+14155550101"
    assert body["profile_name"] == "Ada"


async def test_another_tenant_s_wamid_names_no_notification(
    engine: AsyncEngine,
    receiver: Receiver,  # noqa: F811 - the fixture imported above
) -> None:
    owner, _ = await tenant_with_secret(engine)
    other, _ = await tenant_with_secret(engine)
    nid = new_id()
    async with engine.begin() as conn:
        await store.append(conn, lifecycle(nid, owner, receiver.url)[:2])
    foreign = tap(other, receiver.url, f"wamid.{nid}")
    silent = tap(other, None, None)
    unowned = tap(None, receiver.url, None)
    async with engine.begin() as conn:
        await store.append(conn, [foreign, silent, unowned])
    await deliver(engine, [foreign.event_id])
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT event_id, tenant_id FROM ledger.callbacks WHERE event_id = ANY(:ids)"),
                {"ids": [foreign.event_id, silent.event_id, unowned.event_id]},
            )
        ).all()
    assert [(r.event_id, r.tenant_id) for r in rows] == [(foreign.event_id, other)]
    bodies = [json.loads(raw) for _, raw in receiver.received]
    found = [b for b in bodies if b.get("id") == str(foreign.event_id)]
    assert len(found) == 1
    assert found[0]["in_reply_to"] is None
