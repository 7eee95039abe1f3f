"""``/v1/notifications``: accept (one or a batch), cancel, and read notifications."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import Field, TypeAdapter, ValidationError
from sqlalchemy import select

from ingest.account.keys import Tenant
from ingest.api.account import IssuedCursor
from ingest.api.deps import API_KEY, AppState, CurrentTenant, State, admit, charge_batch, get_state
from ingest.api.direct import OrjsonResponse, direct_route, header, json_body
from ingest.api.errors import ApiError, error_responses, recipient_param, validation_fields
from ingest.api.schemas import (
    Accepted,
    BatchItem,
    BatchRequest,
    BatchResponse,
    EventsView,
    ItemError,
    NotificationPage,
    NotificationRequest,
    NotificationView,
    StorableText,
)
from ingest.media import door
from ingest.metrics import ACCEPTED
from ingest.notifications import accept, idempotency
from ingest.notifications.cancel import GATE_TO_STATUS, cancel
from ingest.notifications.group_commit import IdempotencySpec
from ingest.notifications.read_model import (
    current_status,
    history,
    list_notifications,
    notification_view,
)
from ingest.tables import idempotency_keys
from notif_core import callback_url
from notif_core.egress import Policy
from notif_core.events import utcnow
from notif_core.privacy import mask_phone
from notif_core.vocabulary import UNSENT, NotificationStatus, StatusName

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])

IDEMPOTENCY_KEY = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_LENGTH = 255
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_KEY,
        description="Retry safely: the same key and body return the first answer for 24 h.",
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
    ),
]
_IDEMPOTENCY_KEY_VALUE = TypeAdapter(Annotated[str, Field(max_length=IDEMPOTENCY_KEY_MAX_LENGTH)])


def _digest(key: str | None, route: str, body: Callable[[], dict[str, Any]]) -> str | None:
    """The request's hash for its Idempotency-Key (None without one). ``body`` gives the
    request as the hash sees it; it is only called when a key was sent, so a request
    without one never serialises its body for nothing."""
    if key is None:
        return None
    return idempotency.request_hash(route, body())


async def _replayed(
    state: State, tenant: Tenant, key: str | None, digest: str | None
) -> JSONResponse | None:
    """The stored answer of a request already accepted under this key, before any check of
    it: a replay answers what the first request got, even if its template was paused since
    (422 ``idempotency_key_reused`` for the key with another body). None when the key is
    new; the group commit's reservation still settles a race between two first requests."""
    if key is None or digest is None:
        return None
    k = idempotency_keys.c
    async with state.engine.connect() as conn:
        row = (
            await conn.execute(
                select(k.request_hash, k.status_code, k.response).where(
                    k.tenant_id == tenant.id, k.key == idempotency.check_key(key)
                )
            )
        ).first()
    if row is None:
        return None
    if row.request_hash != digest:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different request body.",
            field=IDEMPOTENCY_KEY,
        )
    return _replay(idempotency.Stored(row.status_code, row.response))


def _replay(stored: idempotency.Stored) -> JSONResponse:
    return OrjsonResponse(
        stored.response,
        status_code=stored.status_code,
        headers={idempotency.REPLAYED_HEADER: "true"},
    )


async def _accept(
    state: State,
    tenant: Tenant,
    key: str | None,
    digest: str | None,
    prepared: list[accept.Prepared],
    answer: dict[str, Any],
) -> JSONResponse:
    """Group-committed with other requests: idempotency key, notifications, outbox rows."""
    idem = None
    if key is not None and digest is not None:
        idem = IdempotencySpec(idempotency.check_key(key), digest, answer)
    stored = await state.committer.submit(tenant, prepared, idem)
    if stored is not None:
        return _replay(stored)
    for one in prepared:
        ACCEPTED.labels(priority=one.event.payload.priority).inc()
    return OrjsonResponse(answer, status_code=202)


async def _callback_refusals(state: AppState, urls: Iterable[Any]) -> dict[str, str]:
    """Why each callback URL (of those that are URLs) may not be called under the
    deployment's policy (``CALLBACK_ALLOW_PRIVATE``), resolved together: a batch waits for
    its slowest name, at most ``callback_url.LOOKUP_SECONDS``."""
    policy = Policy.of(state.settings)
    distinct = [
        url
        for url in dict.fromkeys(u for u in urls if isinstance(u, str))
        if callback_url.problem(url) is None
    ]
    reasons = await asyncio.gather(*(callback_url.refusal(url, policy) for url in distinct))
    return {url: reason for url, reason in zip(distinct, reasons, strict=True) if reason}


def _callback_not_allowed(reason: str) -> ApiError:
    return ApiError(
        422, "callback_url_not_allowed", f"callback_url {reason}.", field="callback_url"
    )


async def create_notification(
    body: NotificationRequest,
    tenant: CurrentTenant,
    state: State,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Accept a notification: answered once it is durably stored, sent asynchronously."""
    digest = _digest(
        idempotency_key,
        "POST /v1/notifications",
        lambda: body.model_dump(mode="json", exclude_none=True),
    )
    replayed = await _replayed(state, tenant, idempotency_key, digest)
    if replayed is not None:
        return replayed
    if body.callback_url is not None:
        refused = await _callback_refusals(state, [body.callback_url])
        if refused:
            raise _callback_not_allowed(refused[body.callback_url])
    if door.CARRIERS.intersection(body.kinds()):  # only media and interactive carry ids
        sent = body.model_dump(mode="json", exclude_none=True)
        door.check_own(sent, await door.foreign_uploads(state.redis, [sent], tenant.id))
    prepared = await accept.prepare_checked(
        tenant,
        body,
        utcnow(),
        catalogue=state.catalogue,
        settings=state.settings,
        fallback=accept.fallback_sender(state.settings),
    )
    # The request's access-log line carries both (the number masked): one line per request.
    structlog.contextvars.bind_contextvars(notification_id=str(prepared.id), to=mask_phone(body.to))
    return await _accept(
        state,
        tenant,
        idempotency_key,
        digest,
        [prepared],
        prepared.answer.model_dump(mode="json", exclude_none=True),
    )


async def _create_notification_directly(request: Request) -> Response:
    """``create_notification`` with its parameters resolved explicitly (``api.direct``): in
    FastAPI's order, malformed JSON first, then the key (401, 429), then field errors."""
    body, errors = await json_body(request, NotificationRequest)
    state = await get_state(request)
    tenant = await admit(state, request.headers.get(API_KEY.model.name))
    key, key_errors = header(request, IDEMPOTENCY_KEY, _IDEMPOTENCY_KEY_VALUE)
    if body is None or key_errors:
        raise RequestValidationError(key_errors + errors)
    return await create_notification(body, tenant, state, key)


router.add_api_route(
    "",
    create_notification,
    methods=["POST"],
    status_code=202,
    response_model=Accepted,
    responses=error_responses(400, 409, 413, 415, 422),
    summary="Send one notification",
    route_class_override=direct_route(_create_notification_directly),
)


@router.post(
    "/batch",
    status_code=202,
    response_model=BatchResponse,
    responses=error_responses(400, 413, 415, 422),
    summary="Send up to 1,000 notifications",
)
async def create_batch(
    body: BatchRequest,
    tenant: CurrentTenant,
    state: State,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Each item is validated alone; the valid ones are accepted together, atomically.

    The key's rate limit counts notifications: a batch of N costs N (429 beyond it, and
    ``batch_exceeds_burst`` when N is more than the burst)."""
    await charge_batch(state, tenant, len(body.notifications))
    digest = _digest(
        idempotency_key, "POST /v1/notifications/batch", lambda: body.model_dump(mode="json")
    )
    replayed = await _replayed(state, tenant, idempotency_key, digest)
    if replayed is not None:
        return replayed
    now = utcnow()
    fallback = accept.fallback_sender(state.settings)
    results: list[BatchItem] = []
    prepared: list[accept.Prepared] = []
    refused = await _callback_refusals(
        state, (item.get("callback_url") for item in body.notifications)
    )
    foreign = await door.foreign_uploads(state.redis, body.notifications, tenant.id)
    for index, item in enumerate(body.notifications):
        try:
            request = NotificationRequest.model_validate(item)
            if request.callback_url in refused:
                raise _callback_not_allowed(refused[request.callback_url])
            door.check_own(item, foreign)
            one = await accept.prepare_checked(
                tenant,
                request,
                now,
                catalogue=state.catalogue,
                settings=state.settings,
                fallback=fallback,
            )
        except ValidationError as exc:
            fields = validation_fields(exc.errors())
            error = ItemError(
                code="validation_error",
                message="The notification is invalid.",
                field=fields[0]["field"] if fields else None,
                fields=fields,
            )
            results.append(BatchItem(index=index, status="rejected", error=error))
            continue
        except ApiError as exc:
            error = ItemError(
                code=exc.code,
                message=exc.message,
                field=exc.field,
                template_status=exc.extra.get("template_status"),
            )
            results.append(BatchItem(index=index, status="rejected", error=error))
            continue
        prepared.append(one)
        answer = one.answer
        results.append(BatchItem(index=index, id=one.id, status=answer.status))
    payload = BatchResponse(results=results).model_dump(mode="json", exclude_none=True)
    return await _accept(state, tenant, idempotency_key, digest, prepared, payload)


@router.get(
    "", response_model=NotificationPage, responses=error_responses(400, 422), summary="List"
)
async def list_(
    tenant: CurrentTenant,
    state: State,
    status: StatusName | None = None,
    to: Annotated[StorableText | None, Query(max_length=140)] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    cursor: Annotated[IssuedCursor | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> NotificationPage:
    """The tenant's notifications, newest first, with a stable cursor."""
    recipient = recipient_param(to, "to") if to is not None else None
    async with state.engine.connect() as conn:
        items, next_cursor = await list_notifications(
            conn,
            tenant.id,
            status=status,
            to=recipient,
            created_after=created_after,
            created_before=created_before,
            cursor=cursor,
            limit=limit,
        )
    return NotificationPage(items=items, next_cursor=next_cursor)


@router.get("/{notification_id}", responses=error_responses(404), summary="Status and history")
async def get_notification(
    notification_id: UUID, tenant: CurrentTenant, state: State
) -> NotificationView:
    async with state.engine.connect() as conn:
        view = await notification_view(conn, tenant.id, notification_id)
    if view is None:
        raise ApiError(404, "notification_not_found", "No such notification for this tenant.")
    return view


@router.get("/{notification_id}/events", responses=error_responses(404), summary="Event history")
async def get_events(notification_id: UUID, tenant: CurrentTenant, state: State) -> EventsView:
    async with state.engine.connect() as conn:
        if await current_status(conn, tenant.id, notification_id) is None:
            raise ApiError(404, "notification_not_found", "No such notification for this tenant.")
        return EventsView(id=notification_id, events=await history(conn, notification_id))


@router.post(
    "/{notification_id}/cancel",
    responses=error_responses(404, 409),
    summary="Cancel before it is sent",
)
async def cancel_notification(
    notification_id: UUID, tenant: CurrentTenant, state: State
) -> dict[str, Any]:
    """``cancelled`` unless a dispatcher already took it: then 409 with the current status."""
    async with state.engine.begin() as conn:
        status = await current_status(conn, tenant.id, notification_id)
        if status is None:
            raise ApiError(404, "notification_not_found", "No such notification for this tenant.")
        cancelled, gate_state = await cancel(conn, tenant.id, notification_id)
    if not cancelled:
        # Not sent yet as far as the ledger knows: the dispatch gate knows better.
        now = GATE_TO_STATUS.get(gate_state, gate_state) if status in UNSENT else status
        raise ApiError(
            409,
            "not_cancellable",
            f"The notification can no longer be cancelled: it is {now}.",
            status=now,
        )
    return {"id": str(notification_id), "status": NotificationStatus.CANCELLED}
