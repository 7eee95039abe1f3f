"""ASGI middleware: body size and content type guards; per request, one access-log line and
the request metrics.

Pure ASGI (not BaseHTTPMiddleware) so the request path stays cheap.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.api.errors import error_response
from ingest.metrics import observe_request
from notif_core.logging import get_logger

log = get_logger("ingest.access")
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class _TooLarge(Exception):
    pass


class RequestGuard:
    """413 over the size limit, 415 for a body that is not JSON (except on ``form_paths``,
    whose routes read and check multipart bodies themselves); logs and counts requests."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        large_paths: dict[str, int],
        form_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.large_paths = large_paths
        self.form_paths = form_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 0}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            rejection = self._reject_early(scope)
            if rejection is not None:
                await rejection(scope, receive, send_wrapper)
                return
            limit = self.large_paths.get(scope["path"], self.max_body)
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise _TooLarge
                return message

            try:
                await self.app(scope, limited_receive, send_wrapper)
            except _TooLarge:
                if status["code"] == 0:
                    await self._too_large(limit)(scope, receive, send_wrapper)
        except Exception:
            # Unhandled: Starlette's outer error middleware answers 500 once this re-raises,
            # so count it as that (0 would hide it from the error-rate alerts).
            if status["code"] == 0:
                status["code"] = 500
            raise
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            handler = getattr(route, "path", "none") if route else "none"
            if handler != "/metrics":
                observe_request(handler, scope["method"], status["code"], seconds)
            log.info(
                "request",
                method=scope["method"],
                route=handler if route else "unmatched",
                status=status["code"],
                duration_ms=round(seconds * 1000, 2),
            )

    def _reject_early(self, scope: Scope) -> ASGIApp | None:
        if scope["method"] not in WITH_BODY:
            return None
        headers = dict(scope["headers"])
        limit = self.large_paths.get(scope["path"], self.max_body)
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return self._too_large(limit)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        has_body = length not in (None, b"0") or b"transfer-encoding" in headers
        if (
            has_body
            and content_type != b"application/json"
            and scope["path"] not in self.form_paths
        ):
            return error_response(
                415, "unsupported_media_type", "Send the body as Content-Type: application/json."
            )
        return None

    @staticmethod
    def _too_large(limit: int) -> ASGIApp:
        return error_response(
            413, "payload_too_large", f"The body is larger than {limit // 1024} KB."
        )
