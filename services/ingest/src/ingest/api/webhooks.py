"""``/webhooks/whatsapp``: Meta's subscription handshake and status/inbound deliveries."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from ingest.deps import State
from ingest.errors import error_response
from ingest.meta_webhooks import SIGNATURE_HEADER, events_from_payload, signature_valid
from notif_core.logging import get_logger

router = APIRouter(prefix="/webhooks/whatsapp", tags=["webhooks"])
log = get_logger(__name__)


@router.get("", response_class=PlainTextResponse)
async def verify_subscription(
    state: State,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
) -> PlainTextResponse:
    """Echo ``hub.challenge`` when the verify token matches; 403 otherwise."""
    expected = state.settings.whatsapp_verify_token.get_secret_value()
    if mode == "subscribe" and token is not None and challenge is not None and token == expected:
        return PlainTextResponse(challenge)
    return PlainTextResponse("forbidden", status_code=403)


@router.post("")
async def receive(request: Request, state: State) -> JSONResponse:
    """Verify the signature on the raw bytes, turn the body into events, publish, then 200.

    Publishing before answering means a failure makes Meta retry instead of losing a status.
    """
    raw = await request.body()
    secret = state.settings.whatsapp_app_secret.get_secret_value().encode()
    if not signature_valid(secret, raw, request.headers.get(SIGNATURE_HEADER)):
        return error_response(401, "invalid_signature", "X-Hub-Signature-256 does not match.")
    try:
        payload = json.loads(raw)
    except ValueError:
        return error_response(400, "invalid_json", "The body is not JSON.")
    if not isinstance(payload, dict):
        return error_response(400, "invalid_payload", "The body is not a webhook object.")
    events = events_from_payload(payload)
    if events:
        await state.publisher.publish(state.queue_urls.events, events)
    log.info("webhook_received", events=len(events))
    return JSONResponse({"received": len(events)})
