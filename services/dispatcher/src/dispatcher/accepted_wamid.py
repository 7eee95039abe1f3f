"""Whether Meta accepted a message for a notification, as the ledger knows from Meta's own
statuses: the ledger's contract ``accepted_wamid_v1(notification_id)`` (its migration 0011,
through ``ledger_contract.py``), the only way the dispatcher learns it.

A status webhook echoes ``biz_opaque_callback_data`` (the notification id), so a send whose
answer never reached our database still leaves its wamid here once Meta reports on it.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from dispatcher.ledger_contract import ACCEPTED_WAMID as _ACCEPTED_WAMID


class AcceptedWamids(Protocol):
    async def of(self, notification_id: UUID) -> str | None: ...


class LedgerAcceptedWamids:
    """Calls the ledger's ``accepted_wamid_v1`` function."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def of(self, notification_id: UUID) -> str | None:
        async with self._engine.connect() as conn:
            wamid = (await conn.execute(_ACCEPTED_WAMID, {"id": notification_id})).scalar()
        return None if wamid is None else str(wamid)
