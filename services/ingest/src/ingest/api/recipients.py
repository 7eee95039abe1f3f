"""Erasure of a person: ``DELETE /v1/recipients/{recipient}`` (GDPR Art. 17)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ingest.account import erasure, suppressions
from ingest.api.deps import CurrentTenant, State
from ingest.api.errors import ApiError, error_responses, recipient_param
from ingest.api.schemas import StorableText
from ingest.notifications.accept import fallback_sender

router = APIRouter(prefix="/v1", tags=["recipients"])


class ErasureAccepted(BaseModel):
    request_id: str = Field(description="Id of the erasure request, for the audit trail.")
    notifications: int = Field(description="Accepted notifications whose recipient was erased.")
    status: str = Field(default="erasure_requested")


@router.delete(
    "/recipients/{recipient}",
    status_code=202,
    responses=error_responses(404, 409, 422),
    summary="Erase a recipient's personal data",
)
async def erase_recipient(
    recipient: StorableText, tenant: CurrentTenant, state: State
) -> ErasureAccepted:
    """Erases the person everywhere this deployment keeps them: the number (any form, or
    a BSUID) leaves notifications, webhooks, callbacks, idempotent responses, windows and
    the event store (whose personal fields become unreadable); an opt-out stays, as a
    keyed hash that still suppresses sends to them. Ingest's part is done when this answers;
    the ledger's follows within seconds. Only a tenant that has sent to the person, whose
    numbers they wrote to or opted out of, or that erased them before may ask (asking
    again answers ``202`` again): otherwise ``404 recipient_not_found``. A person another
    tenant also knows is the operator's to erase: ``409 recipient_shared``. ``notifications``
    counts the tenant's own."""
    who = recipient_param(recipient, "recipient")
    numbers = suppressions.senders(tenant, fallback_sender(state.settings))
    async with state.engine.begin() as conn:
        forms = await erasure.person_forms(conn, who)
        if not await erasure.known_to(conn, tenant.id, numbers, forms):
            raise ApiError(
                404,
                "recipient_not_found",
                "none of your notifications, numbers or erasures names them",
            )
        if await erasure.known_elsewhere(conn, tenant.id, numbers, forms):
            raise ApiError(
                409,
                "recipient_shared",
                "another tenant of this deployment also holds their data: the operator "
                "erases them (notifctl recipients erase)",
            )
        done = await erasure.erase(conn, who, tenant.id, every=forms)
    return ErasureAccepted(request_id=str(done.request_id), notifications=done.notifications)
