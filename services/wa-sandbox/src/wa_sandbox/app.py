"""The sandbox HTTP app: Meta's send endpoint plus the ``/_sandbox`` inspection API."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse

from wa_sandbox import meta
from wa_sandbox.settings import SandboxSettings
from wa_sandbox.webhooks import WebhookSender

SUPPORTED_TYPES = frozenset({"text", "template", "image", "video", "audio", "document", "sticker"})


def _error(status: int, code: int, message: str, details: str, **kw: Any) -> JSONResponse:
    return JSONResponse(meta.error_body(code, message, details, **kw), status_code=status)


def create_app(settings: SandboxSettings | None = None) -> FastAPI:
    settings = settings or SandboxSettings()
    messages: list[dict[str, Any]] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=5.0) as client:
            sender = WebhookSender(settings, client)
            app.state.webhooks = sender
            yield
            await sender.close()

    app = FastAPI(title="wa-sandbox", lifespan=lifespan, docs_url="/_sandbox/docs")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "healthy"}

    @app.post("/{version}/{phone_number_id}/messages")
    async def send_message(
        version: str,
        phone_number_id: str,
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        if authorization != f"Bearer {settings.access_token}":
            return _error(
                401, 190, "Invalid OAuth access token - Cannot parse access token", "Invalid token"
            )
        if phone_number_id != settings.phone_number_id:
            return _error(
                400,
                100,
                "Invalid parameter",
                f"Unsupported post request. Object with ID '{phone_number_id}' does not exist",
            )
        try:
            body = await request.json()
        except ValueError:
            return _error(400, 100, "Invalid parameter", "Request body is not JSON")
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return _error(400, 100, "Invalid parameter", "messaging_product must be 'whatsapp'")
        to = str(body.get("to") or "")
        if not to.lstrip("+").isdigit():
            return _error(400, 100, "Invalid parameter", "Parameter 'to' is not a phone number")
        kind = body.get("type", "text")
        if kind not in SUPPORTED_TYPES:
            return _error(
                400, 131051, "Unsupported message type", f"Type '{kind}' is not supported"
            )
        if not isinstance(body.get(kind), dict):
            return _error(400, 100, "Invalid parameter", f"Parameter '{kind}' is required")
        wamid = meta.new_wamid()
        wa_id = to.lstrip("+")
        callback = body.get("biz_opaque_callback_data")
        messages.append(
            {
                "wamid": wamid,
                "phone_number_id": phone_number_id,
                "to": wa_id,
                "type": kind,
                "biz_opaque_callback_data": callback,
                "received_at": time.time(),
                "body": body,
            }
        )
        app.state.webhooks.status_sequence(wamid, wa_id, callback)
        return JSONResponse(meta.success_body(to, wa_id, wamid, template=kind == "template"))

    @app.get("/_sandbox/messages")
    async def list_messages(
        to: Annotated[str | None, Query()] = None,
        biz_opaque_callback_data: Annotated[str | None, Query()] = None,
    ) -> dict[str, Any]:
        """Every accepted send, optionally filtered; how tests count sends per notification."""
        found = [
            m
            for m in messages
            if (to is None or m["to"] == to.lstrip("+"))
            and (
                biz_opaque_callback_data is None
                or m["biz_opaque_callback_data"] == biz_opaque_callback_data
            )
        ]
        return {"messages": found}

    @app.post("/_sandbox/reset")
    async def reset() -> dict[str, str]:
        messages.clear()
        return {"status": "reset"}

    return app
