"""Where a tenant receives its inbound messages: ``tenants.inbound_callback_url`` for all its
numbers, ``ingest.inbound_routes`` for one number (it wins for that number)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.tables import inbound_routes, tenants


class InboundCallbacks(BaseModel):
    callback_url: str | None = Field(
        default=None, description="Where inbound messages to any of your numbers go."
    )
    numbers: dict[str, str] = Field(
        default_factory=dict,
        description="Per sender number (phone_number_id): where its inbound messages go instead.",
    )


async def current(conn: AsyncConnection, tenant_id: UUID) -> InboundCallbacks:
    url = (
        await conn.execute(select(tenants.c.inbound_callback_url).where(tenants.c.id == tenant_id))
    ).scalar()
    r = inbound_routes.c
    rows = await conn.execute(
        select(r.phone_number_id, r.callback_url)
        .where(r.tenant_id == tenant_id)
        .order_by(r.phone_number_id)
    )
    return InboundCallbacks(
        callback_url=url, numbers={row.phone_number_id: row.callback_url for row in rows}
    )


async def set_url(
    conn: AsyncConnection, tenant_id: UUID, url: str | None, phone_number_id: str | None
) -> None:
    """Set (or with ``url`` None, remove) the tenant's inbound callback URL, for one number
    when ``phone_number_id`` is given."""
    if phone_number_id is None:
        await conn.execute(
            update(tenants).where(tenants.c.id == tenant_id).values(inbound_callback_url=url)
        )
        return
    r = inbound_routes.c
    if url is None:
        await conn.execute(
            delete(inbound_routes).where(
                r.phone_number_id == phone_number_id, r.tenant_id == tenant_id
            )
        )
        return
    stmt = insert(inbound_routes).values(
        phone_number_id=phone_number_id, tenant_id=tenant_id, callback_url=url
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["phone_number_id"],
            set_={"tenant_id": tenant_id, "callback_url": url},
        )
    )


async def tenant_numbers(conn: AsyncConnection, name: str) -> tuple[UUID, list[str]] | None:
    """The tenant of that name and its sender numbers, or None."""
    row = (
        await conn.execute(
            select(tenants.c.id, tenants.c.phone_number_ids).where(tenants.c.name == name)
        )
    ).first()
    return (row.id, list(row.phone_number_ids)) if row is not None else None
