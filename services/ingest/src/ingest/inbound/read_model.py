"""Reading a tenant's inbound messages (``ingest.inbound``), newest first with a keyset
cursor, each with the notification it answers: the tenant's own notification whose wamid
the message's context names (through ledger's ``notification_status_v1``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest import ledger_contract
from ingest.notifications.read_model import keyset_page, time_and_id
from notif_core.identity import recipient_key, spellings

_REPLY = (
    "LEFT JOIN LATERAL (SELECT n.id FROM ingest.notifications AS n "  # noqa: S608 - constants
    f"JOIN {ledger_contract.STATUS} AS l ON l.id = n.id "
    "WHERE l.wamid = i.context_wamid AND n.tenant_id = i.tenant_id LIMIT 1) AS reply ON true"
)
_COLUMNS = (
    "i.id, i.phone_number_id, i.sender, i.user_id, i.profile_name, i.wamid, i.kind, "
    "i.content, i.context_wamid, i.received_at, i.read_at, reply.id AS in_reply_to"
)


class InboundMessage(BaseModel):
    """A message a customer sent to one of the tenant's numbers (docs/api.md, "Inbound
    messages"); the kind's content is under the key named by ``kind``."""

    id: UUID = Field(description="Ours: use it with /v1/inbound/{id}.")
    phone_number_id: str
    from_: str | None = Field(default=None, alias="from", serialization_alias="from")
    user_id: str | None = None
    profile_name: str | None = None
    wamid: str
    kind: str = Field(
        description="text, button, interactive, image, video, audio, document, sticker, "
        "location, contacts, reaction or unsupported."
    )
    content: dict[str, Any] = Field(description="The kind's content, as documented per kind.")
    context_wamid: str | None = None
    in_reply_to: UUID | None = Field(
        default=None, description="Our notification id, when the message answers one of yours."
    )
    received_at: datetime
    read_at: datetime | None = None

    model_config = {"populate_by_name": True}


class InboundPage(BaseModel):
    items: list[InboundMessage]
    next_cursor: str | None = None


def _message(row: Any) -> InboundMessage:
    return InboundMessage(
        id=row.id,
        phone_number_id=row.phone_number_id,
        from_=row.sender,
        user_id=row.user_id,
        profile_name=row.profile_name,
        wamid=row.wamid,
        kind=row.kind,
        content=row.content,
        context_wamid=row.context_wamid,
        in_reply_to=row.in_reply_to,
        received_at=row.received_at,
        read_at=row.read_at,
    )


async def one(conn: AsyncConnection, tenant_id: UUID, inbound_id: UUID) -> InboundMessage | None:
    query = text(
        f"SELECT {_COLUMNS} FROM ingest.inbound AS i {_REPLY} "  # noqa: S608 - constants
        "WHERE i.id = :id AND i.tenant_id = :tenant"
    )
    row = (await conn.execute(query, {"id": inbound_id, "tenant": tenant_id})).first()
    return _message(row) if row is not None else None


async def listed(
    conn: AsyncConnection,
    tenant_id: UUID,
    *,
    phone_number_id: str | None,
    sender: str | None,
    received_after: datetime | None,
    received_before: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[InboundMessage], str | None]:
    """Newest first, keyset-paginated on (received_at, id). ``sender``: a number in E.164
    (the writer's WhatsApp id) or a BSUID."""
    clauses = ["i.tenant_id = :tenant"]
    params: dict[str, Any] = {"tenant": tenant_id, "limit": limit + 1}
    if phone_number_id is not None:
        clauses.append("i.phone_number_id = :pnid")
        params["pnid"] = phone_number_id
    if sender is not None:  # every form of the person: Meta's ids drop or add digits
        clauses.append("(i.sender = ANY(:senders) OR i.user_id = :sender)")
        params["sender"] = sender
        params["senders"] = sorted(spellings(recipient_key(sender)))
    if received_after is not None:
        clauses.append("i.received_at > :after")
        params["after"] = received_after
    if received_before is not None:
        clauses.append("i.received_at < :before")
        params["before"] = received_before
    if cursor is not None:
        params["c_time"], params["c_id"] = time_and_id(cursor)
        clauses.append("(i.received_at, i.id) < (:c_time, :c_id)")
    query = text(
        f"SELECT {_COLUMNS} FROM ingest.inbound AS i {_REPLY} "  # noqa: S608 - fixed clauses
        f"WHERE {' AND '.join(clauses)} ORDER BY i.received_at DESC, i.id DESC LIMIT :limit"
    )
    page, next_cursor = keyset_page(
        list(await conn.execute(query, params)),
        limit,
        lambda r: (r.received_at.isoformat(), str(r.id)),
    )
    return [_message(r) for r in page], next_cursor


async def mark_read(conn: AsyncConnection, tenant_id: UUID, inbound_id: UUID) -> None:
    """The business marked it read (the first time counts)."""
    await conn.execute(
        text(
            "UPDATE ingest.inbound SET read_at = coalesce(read_at, now()) "
            "WHERE id = :id AND tenant_id = :tenant"
        ),
        {"id": inbound_id, "tenant": tenant_id},
    )
