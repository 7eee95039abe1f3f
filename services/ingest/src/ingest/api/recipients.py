"""Erasure of a person: ``DELETE /v1/recipients/{recipient}`` (GDPR Art. 17)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ingest import erasure, suppressions
from ingest.api.account import recipient_param
from ingest.deps import CurrentTenant, State
from ingest.errors import ApiError, error_responses

router = APIRouter(prefix="/v1", tags=["recipients"])


class ErasureAccepted(BaseModel):
    request_id: str = Field(description="Id of the erasure request, for the audit trail.")
    notifications: int = Field(description="Accepted notifications whose recipient was erased.")
    status: str = Field(default="erasure_requested")


@router.delete(
    "/recipients/{recipient}",
    status_code=202,
    responses=error_responses(404, 422),
    summary="Erase a recipient's personal data",
)
async def erase_recipient(recipient: str, tenant: CurrentTenant, state: State) -> ErasureAccepted:
    """Erases the person everywhere this deployment keeps them: the number (any form, or
    a BSUID) leaves notifications, webhooks, callbacks, idempotent responses, windows and
    the event store (whose personal fields become unreadable); an opt-out stays, as a
    keyed hash that still suppresses sends to them. Ingest's part is done when this answers;
    the ledger's follows within seconds. Only a tenant that has sent to the person, or holds
    their opt-out, may ask: otherwise ``404 recipient_not_found``."""
    who = recipient_param(recipient)
    numbers = suppressions.senders(tenant, state.settings.whatsapp_phone_number_id)
    async with state.engine.begin() as conn:
        known = await erasure.has_sent_to(conn, tenant.id, who)
        if not known:
            items, _ = await suppressions.active(conn, numbers, recipient=who, cursor=None, limit=1)
            known = bool(items)
        if not known:
            raise ApiError(
                404, "recipient_not_found", "no notification or opt-out of yours names them"
            )
        done = await erasure.erase(conn, who, tenant.id)
    return ErasureAccepted(request_id=str(done.request_id), notifications=done.notifications)
