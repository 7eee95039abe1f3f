"""The tenant's account: usage and cost, the suppression list, status callbacks."""

from __future__ import annotations

import base64
import binascii
from datetime import date, timedelta
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import AfterValidator

from ingest.account import callback_secrets, pricing, suppressions, usage
from ingest.account.keys import Tenant
from ingest.api.deps import AppState, CurrentTenant, State
from ingest.api.errors import ApiError, error_responses, recipient_param
from ingest.api.schemas import (
    PHONE_NUMBER_ID_PATTERN,
    CallbackPage,
    CallbackSecrets,
    RotateRequest,
    StorableText,
    SuppressionAccepted,
    SuppressionPage,
    SuppressionRequest,
    UsageReport,
)
from ingest.notifications.accept import fallback_sender
from ingest.notifications.read_model import callback_deliveries
from notif_core.events import utcnow
from notif_core.vocabulary import CallbackState, Scope

router = APIRouter(prefix="/v1", tags=["account"])


def issued_cursor(value: str) -> str:
    """``value`` unless its content (base64 of text) holds a NUL, which no cursor we issue
    does and PostgreSQL cannot compare: 400 ``invalid_cursor``, as for any cursor we did not
    issue. Other malformations are the reader's to find (``decode_cursor``)."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, binascii.Error):
        return value
    if b"\x00" in raw:
        raise ApiError(400, "invalid_cursor", "The cursor is not one we issued.", field="cursor")
    return value


IssuedCursor = Annotated[StorableText, AfterValidator(issued_cursor)]
"""An opaque cursor: its text, and the text it decodes to, are client input."""
Cursor = Annotated[IssuedCursor | None, Query(max_length=400)]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/usage", responses=error_responses(400, 422), summary="Usage and cost")
async def get_usage(
    tenant: CurrentTenant,
    state: State,
    from_: Annotated[date | None, Query(alias="from", description="First day (UTC).")] = None,
    to: Annotated[date | None, Query(description="Last day (UTC), included.")] = None,
    group_by: Annotated[
        StorableText,
        Query(max_length=64, description="day, category, country, billable; comma-separated."),
    ] = "day",
    cost: Annotated[
        bool, Query(description="Add each group's cost estimate from the rate card.")
    ] = False,
) -> UsageReport:
    """Messages Meta priced, by UTC day, pricing category, billable flag and recipient
    country. Defaults to the last 30 days. With ``cost=true``, each group's estimate from
    the operator's rate card (RATE_CARD_PATH; ``docs/templates.md``); 503
    ``rate_card_unavailable`` when it cannot be used."""
    end = to or utcnow().date()
    start = from_ or end - timedelta(days=29)
    dims = usage.parse_group_by(group_by)
    card = pricing.load(state.settings.rate_card_path) if cost else None
    async with state.engine.connect() as conn:
        return await usage.report(conn, tenant.id, start, end, dims, card)


@router.get("/suppressions", responses=error_responses(400, 422), summary="Suppression list")
async def list_suppressions(
    tenant: CurrentTenant,
    state: State,
    recipient: Annotated[StorableText | None, Query(max_length=140)] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> SuppressionPage:
    """Recipients nothing (scope all) or no marketing (scope marketing) is sent to, from
    STOP keywords, Meta's 131050 and this API."""
    wanted = recipient_param(recipient, "recipient") if recipient is not None else None
    numbers = suppressions.senders(tenant, fallback_sender(state.settings))
    async with state.engine.connect() as conn:
        items, next_cursor = await suppressions.active(
            conn, numbers, recipient=wanted, cursor=cursor, limit=limit
        )
    return SuppressionPage(items=items, next_cursor=next_cursor)


@router.post(
    "/suppressions",
    status_code=202,
    responses=error_responses(400, 422),
    summary="Suppress a recipient",
)
async def add_suppression(
    body: SuppressionRequest, tenant: CurrentTenant, state: State
) -> SuppressionAccepted:
    """Recorded at once; the dispatcher honours it within about a second (the time the
    ledger takes to apply it)."""
    numbers = suppressions.changeable(tenant, fallback_sender(state.settings), body.phone_number_id)
    return await _record(state, tenant, body.recipient, numbers, "suppress", body.scope)


@router.delete(
    "/suppressions/{recipient}",
    status_code=202,
    responses=error_responses(400, 422),
    summary="Lift a suppression",
)
async def lift_suppression(
    recipient: StorableText,
    tenant: CurrentTenant,
    state: State,
    phone_number_id: Annotated[str | None, Query(pattern=PHONE_NUMBER_ID_PATTERN)] = None,
) -> SuppressionAccepted:
    """Lifts every scope for the recipient (any form of the number, or a BSUID), as an
    opt-in keyword (START) would."""
    number = recipient_param(recipient, "recipient")
    numbers = suppressions.changeable(tenant, fallback_sender(state.settings), phone_number_id)
    return await _record(state, tenant, number, numbers, "lift")


async def _record(
    state: AppState,
    tenant: Tenant,
    recipient: str,
    numbers: list[str],
    action: Literal["suppress", "lift"],
    scope: Scope = "all",
) -> SuppressionAccepted:
    async with state.engine.begin() as conn:
        return await suppressions.record(conn, tenant, recipient, numbers, action, scope)


@router.get("/callbacks", responses=error_responses(400, 422), summary="Callback deliveries")
async def list_callbacks(
    tenant: CurrentTenant,
    state: State,
    delivery_state: Annotated[
        CallbackState | None,
        Query(alias="state", description="failed: given up after the retry period."),
    ] = None,
    notification_id: UUID | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> CallbackPage:
    """Status callbacks sent (or being retried) to your callback URLs, newest first."""
    async with state.engine.connect() as conn:
        items, next_cursor = await callback_deliveries(
            conn,
            tenant.id,
            notification_id=notification_id,
            state=delivery_state,
            cursor=cursor,
            limit=limit,
        )
    return CallbackPage(items=items, next_cursor=next_cursor)


@router.get("/callback-secrets", responses=error_responses(), summary="Callback signing secrets")
async def get_callback_secrets(tenant: CurrentTenant, state: State) -> CallbackSecrets:
    """The secrets that sign ``X-Notif-Signature``; during a rotation, more than one."""
    async with state.engine.connect() as conn:
        return await callback_secrets.active(conn, tenant.id)


@router.post(
    "/callback-secrets/rotate",
    status_code=201,
    responses=error_responses(422),
    summary="Rotate the callback signing secret",
)
async def rotate_callback_secret(
    tenant: CurrentTenant, state: State, body: RotateRequest | None = None
) -> JSONResponse:
    """A new secret signs from now on; the current ones keep signing for ``overlap_seconds``."""
    overlap = (body or RotateRequest()).overlap_seconds
    async with state.engine.begin() as conn:
        secrets = await callback_secrets.rotate(conn, tenant.id, overlap)
    return JSONResponse(secrets.model_dump(mode="json"), status_code=201)
