"""Whose an inbound message is: the tenant that holds the business number it was sent to,
and where that tenant receives inbound messages. Resolved in the transaction that stores
Meta's webhook, so the ``message.inbound_received`` event carries its owner and callback URL
to the ledger, and the message is listed (``GET /v1/inbound``) to that tenant alone.

A number no tenant holds has no owner: its messages still open windows and carry opt-outs,
but reach no tenant. In a deployment that serves one business (``SINGLE_TENANT``), the
default sender's messages belong to the one tenant without numbers of its own, if there is
exactly one (several would each see the others' customers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import any_, delete, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest.tables import inbound, inbound_routes, tenants
from notif_core.events import Event, MessageInboundReceived


@dataclass(frozen=True)
class Owner:
    tenant_id: UUID
    callback_url: str | None


async def owner_of(
    conn: AsyncConnection, phone_number_id: str, fallback: str | None
) -> Owner | None:
    """The tenant holding ``phone_number_id`` (``fallback``: the number a tenant without
    numbers sends from, or None), with its inbound callback URL for that number."""
    t, r = tenants.c, inbound_routes.c
    url = func.coalesce(r.callback_url, t.inbound_callback_url)
    query = select(t.id, url.label("url")).outerjoin(
        inbound_routes, (r.phone_number_id == phone_number_id) & (r.tenant_id == t.id)
    )
    rows = (
        await conn.execute(query.where(literal(phone_number_id) == any_(t.phone_number_ids)))
    ).all()
    if not rows and phone_number_id == fallback:
        rows = (
            await conn.execute(query.where(func.cardinality(t.phone_number_ids) == 0).limit(2))
        ).all()
    if len(rows) != 1:
        return None
    return Owner(rows[0].id, rows[0].url)


async def claim(
    conn: AsyncConnection, events: Sequence[Event], fallback: str | None
) -> list[Event]:
    """``events`` with each inbound one given its owner and callback URL, and stored in
    ``ingest.inbound`` (once: Meta redelivers webhooks)."""
    owners: dict[str, Owner | None] = {}
    claimed: list[Event] = []
    for event in events:
        if not isinstance(event, MessageInboundReceived):
            claimed.append(event)
            continue
        p = event.payload
        if p.phone_number_id not in owners:
            owners[p.phone_number_id] = await owner_of(conn, p.phone_number_id, fallback)
        owner = owners[p.phone_number_id]
        if owner is not None:
            event = event.model_copy(
                update={
                    "tenant_id": owner.tenant_id,
                    "payload": p.model_copy(update={"callback_url": owner.callback_url}),
                }
            )
        await conn.execute(
            insert(inbound)
            .values(
                id=event.event_id,
                tenant_id=owner.tenant_id if owner is not None else None,
                phone_number_id=p.phone_number_id,
                sender=p.from_,
                user_id=p.user_id,
                wamid=p.wamid,
                kind=p.type,
                content=p.content or {},
                context_wamid=p.context_wamid,
                profile_name=p.profile_name,
                received_at=p.received_at,
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )
        claimed.append(event)
    return claimed


PURGE_BATCH = 5_000


async def purge(engine: AsyncEngine, days: float) -> int:
    """Delete inbound messages stored more than ``days`` ago, a batch per transaction."""
    total = 0
    while True:
        oldest = (
            select(inbound.c.id)
            .where(
                inbound.c.stored_at
                < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, days * 86400)
            )
            .limit(PURGE_BATCH)
            .scalar_subquery()
        )
        async with engine.begin() as conn:
            deleted = (await conn.execute(delete(inbound).where(inbound.c.id.in_(oldest)))).rowcount
        total += deleted
        if deleted < PURGE_BATCH:
            return total
