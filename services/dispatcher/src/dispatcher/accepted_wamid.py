"""Whether Meta accepted a message for a notification, as the ledger knows from Meta's own
statuses: the ledger's contract ``ledger.accepted_wamid(notification_id)`` (its migration
0004), the only way the dispatcher learns it.

A status webhook echoes ``biz_opaque_callback_data`` (the notification id), so a send whose
answer never reached our database still leaves its wamid here once Meta reports on it.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_ACCEPTED_WAMID = text("SELECT ledger.accepted_wamid(:id)")


class AcceptedWamids(Protocol):
    async def of(self, notification_id: UUID) -> str | None: ...


class LedgerAcceptedWamids:
    """Calls the ledger's ``accepted_wamid`` function."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def of(self, notification_id: UUID) -> str | None:
        async with self._engine.connect() as conn:
            wamid = (await conn.execute(_ACCEPTED_WAMID, {"id": notification_id})).scalar()
        return None if wamid is None else str(wamid)
