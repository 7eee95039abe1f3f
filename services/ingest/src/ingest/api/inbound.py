"""Inbound messages: what the tenant's customers sent to its numbers, and where they are
called back (docs/api.md, "Inbound messages")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StrictBool

from ingest.api.account import Cursor
from ingest.api.deps import CurrentTenant, State
from ingest.api.errors import ApiError, error_responses, meta_failure, recipient_param
from ingest.api.schemas import PHONE_NUMBER_ID_PATTERN, StorableText
from ingest.inbound import read_model, read_receipts, routes
from ingest.inbound.read_model import InboundMessage, InboundPage
from ingest.inbound.routes import InboundCallbacks
from ingest.meta_graph import MetaRefused, MetaUnavailable
from ingest.notifications.accept import fallback_sender
from notif_core import callback_url
from notif_core.egress import Policy

router = APIRouter(prefix="/v1/inbound", tags=["inbound"])


class InboundCallbackRequest(BaseModel):
    callback_url: str | None = Field(
        description="An https URL (http on loopback in development); null removes it.",
        max_length=callback_url.MAX_LENGTH,
    )
    phone_number_id: str | None = Field(
        default=None,
        pattern=PHONE_NUMBER_ID_PATTERN,
        description="Only for this number of yours; unset: for all your numbers.",
    )

    model_config = {"extra": "forbid"}


@router.get("", responses=error_responses(400, 422), summary="List inbound messages")
async def list_inbound(
    tenant: CurrentTenant,
    state: State,
    phone_number_id: Annotated[str | None, Query(pattern=PHONE_NUMBER_ID_PATTERN)] = None,
    from_: Annotated[StorableText | None, Query(alias="from", max_length=140)] = None,
    received_after: datetime | None = None,
    received_before: datetime | None = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> InboundPage:
    """Messages your customers sent to your numbers, newest first, with a stable cursor."""
    sender = recipient_param(from_, "from") if from_ is not None else None
    async with state.engine.connect() as conn:
        items, next_cursor = await read_model.listed(
            conn,
            tenant.id,
            phone_number_id=phone_number_id,
            sender=sender,
            received_after=received_after,
            received_before=received_before,
            cursor=cursor,
            limit=limit,
        )
    return InboundPage(items=items, next_cursor=next_cursor)


@router.get("/callback", responses=error_responses(), summary="Inbound callback URLs")
async def get_inbound_callback(tenant: CurrentTenant, state: State) -> InboundCallbacks:
    async with state.engine.connect() as conn:
        return await routes.current(conn, tenant.id)


@router.put("/callback", responses=error_responses(422), summary="Set an inbound callback URL")
async def set_inbound_callback(
    body: InboundCallbackRequest, tenant: CurrentTenant, state: State
) -> InboundCallbacks:
    """Inbound messages are POSTed there, signed like status callbacks (``type``
    ``message.received``). 422 ``callback_url_not_allowed`` for a URL the deployment's
    egress policy refuses; 422 ``unknown_sender`` for a number that is not yours."""
    owned = set(tenant.phone_number_ids) or {
        n for n in [fallback_sender(state.settings)] if n is not None
    }
    if body.phone_number_id is not None and body.phone_number_id not in owned:
        raise ApiError(
            422,
            "unknown_sender",
            "phone_number_id is not one of this tenant's numbers.",
            field="phone_number_id",
        )
    if body.callback_url is not None:
        reason = callback_url.problem(body.callback_url) or await callback_url.refusal(
            body.callback_url, Policy.of(state.settings)
        )
        if reason is not None:
            raise ApiError(
                422,
                "callback_url_not_allowed",
                f"callback_url {reason}.",
                field="callback_url",
            )
    async with state.engine.begin() as conn:
        await routes.set_url(conn, tenant.id, body.callback_url, body.phone_number_id)
        return await routes.current(conn, tenant.id)


@router.get("/{inbound_id}", responses=error_responses(404), summary="One inbound message")
async def get_inbound(inbound_id: UUID, tenant: CurrentTenant, state: State) -> InboundMessage:
    async with state.engine.connect() as conn:
        found = await read_model.one(conn, tenant.id, inbound_id)
    if found is None:
        raise ApiError(404, "not_found", "No inbound message with this id.")
    return found


class ReadRequest(BaseModel):
    typing_indicator: StrictBool = Field(
        default=False, description='Also show the customer "typing…" (up to 25 s).'
    )

    model_config = {"extra": "forbid"}


@router.post(
    "/{inbound_id}/read",
    responses=error_responses(404, 422, 502, 503),
    summary="Mark an inbound message read",
)
async def mark_read(
    inbound_id: UUID,
    tenant: CurrentTenant,
    state: State,
    body: ReadRequest | None = None,
) -> InboundMessage:
    """Blue ticks for the customer (and with ``typing_indicator``, "typing…"), as your
    number; 502 ``meta_error`` with Meta's code when Meta refuses, 503 ``meta_unavailable``
    when it cannot be reached."""
    async with state.engine.connect() as conn:
        found = await read_model.one(conn, tenant.id, inbound_id)
    if found is None:
        raise ApiError(404, "not_found", "No inbound message with this id.")
    try:
        await read_receipts.mark_read(
            state.meta,
            state.settings,
            found.phone_number_id,
            found.wamid,
            typing=(body or ReadRequest()).typing_indicator,
        )
    except (MetaRefused, MetaUnavailable) as exc:
        raise meta_failure(exc) from None
    async with state.engine.begin() as conn:
        await read_model.mark_read(conn, tenant.id, inbound_id)
        marked = await read_model.one(conn, tenant.id, inbound_id)
    return marked or found
