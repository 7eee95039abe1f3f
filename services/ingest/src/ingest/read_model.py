"""Reads of the ledger's read model, which ingest serves to API clients.

The ledger owns these tables; ingest only reads them (see docs/architecture.md).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.schemas import HistoryItem, NotificationView
from ingest.tables import notifications
from notif_core.events import STATUS_OF_EVENT

_VIEW = text(
    "SELECT id, status, wamid, last_error, created_at, updated_at "
    "FROM ledger.notifications WHERE id = :id AND tenant_id = :tenant"
)
_HISTORY = text(
    "SELECT event_id, type, occurred_at, recorded_at, body->'payload' AS data "
    "FROM ledger.events WHERE notification_id = :id ORDER BY seq"
)


async def notification_view(
    conn: AsyncConnection, tenant_id: UUID, notification_id: UUID
) -> NotificationView | None:
    """Status and ordered history; ``accepted`` with no history before the ledger catches up."""
    request = (
        await conn.execute(
            select(notifications.c.request, notifications.c.created_at).where(
                notifications.c.id == notification_id, notifications.c.tenant_id == tenant_id
            )
        )
    ).one_or_none()
    if request is None:
        return None
    row = (await conn.execute(_VIEW, {"id": notification_id, "tenant": tenant_id})).one_or_none()
    history = [
        HistoryItem(
            event_id=h.event_id,
            type=h.type,
            status=STATUS_OF_EVENT.get(h.type),
            occurred_at=h.occurred_at,
            recorded_at=h.recorded_at,
            data=_without_pii(h.data or {}),
        )
        for h in await conn.execute(_HISTORY, {"id": notification_id})
    ]
    to = request.request.get("to")
    if row is None:
        return NotificationView(
            id=notification_id,
            status="accepted",
            to=to,
            created_at=request.created_at,
            history=history,
        )
    return NotificationView(
        id=row.id,
        status=row.status,
        to=to,
        wamid=row.wamid,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        history=history,
    )


def _without_pii(data: dict[str, Any]) -> dict[str, Any]:
    """History items repeat the payload minus the recipient and message body."""
    return {k: v for k, v in data.items() if k not in {"to", "message", "from"}}
