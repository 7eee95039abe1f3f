"""``/webhooks/whatsapp``: Meta's subscription handshake and status/inbound deliveries."""

from __future__ import annotations

import hmac
import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from ingest.api.deps import State, get_state
from ingest.api.direct import OrjsonResponse, direct_route
from ingest.api.errors import error_response
from ingest.api.schemas import ErrorBody
from ingest.webhooks.meta_webhooks import SIGNATURE_HEADER, signature_valid

router = APIRouter(prefix="/webhooks/whatsapp", tags=["webhooks"])


@router.get("", response_class=PlainTextResponse, responses={403: {"description": "Wrong token"}})
async def verify_subscription(
    state: State,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
) -> PlainTextResponse:
    """Echo ``hub.challenge`` when the verify token matches (compared in constant time);
    403 otherwise."""
    expected = state.settings.whatsapp_verify_token.get_secret_value().encode()
    given = (token or "").encode("utf-8", "surrogateescape")
    matches = hmac.compare_digest(given, expected) and bool(expected)  # always compared
    if mode == "subscribe" and token is not None and challenge is not None and matches:
        return PlainTextResponse(challenge)
    return PlainTextResponse("forbidden", status_code=403)


async def receive(request: Request, state: State) -> Response:
    """Check the signature on the raw bytes, store them with their events, answer 200.

    A bad signature is answered 401 and nothing is recorded; a signed body that is not a
    JSON object, 400. Any other signed body is kept and answered 200, whatever its items
    hold (an item we cannot translate is counted and its body marked for inspection), so
    Meta never retries a body forever; only a database out of reach is a 503.
    """
    raw = await request.body()
    secrets = state.settings.app_secrets()
    if not signature_valid(secrets, raw, request.headers.get(SIGNATURE_HEADER)):
        return error_response(401, "invalid_signature", "X-Hub-Signature-256 does not match.")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested beyond any parser's reach
        return error_response(400, "invalid_json", "The body is not JSON.")
    if not isinstance(payload, dict):
        return error_response(400, "invalid_payload", "The body is not a webhook object.")
    await state.inbox.store(raw)
    return OrjsonResponse({"received": True})


async def _receive_directly(request: Request) -> Response:
    """``receive`` without FastAPI's dependency solver (``api.direct``): Meta's status
    webhooks, three or four per notification, are the busiest route after the API's own."""
    return await receive(request, await get_state(request))


router.add_api_route(
    "",
    receive,
    methods=["POST"],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}},
    route_class_override=direct_route(_receive_directly),
)
