"""Health endpoints every service serves, so probes and the runbook see one shape.

``/health`` is liveness (the process answers); ``/v1/health`` is readiness (its
dependencies answer) and returns 503 when one it cannot work without is down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Readiness = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


def health_body(version: str) -> dict[str, Any]:
    """``{"status":"healthy","version":...,"timestamp":...}`` with an ISO-8601 UTC time."""
    return {
        "status": "healthy",
        "version": version,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


def readiness_response(version: str, ok: bool, checks: dict[str, Any]) -> JSONResponse:
    body = health_body(version) | checks
    if not ok:
        body["status"] = "unhealthy"
    return JSONResponse(body, status_code=200 if ok else 503)


def probes_app(title: str, version: str, readiness: Readiness) -> FastAPI:
    """The small HTTP app of a worker: ``/health``, ``/v1/health`` and ``/metrics``."""
    app = FastAPI(title=title, version=version, docs_url=None, redoc_url=None)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return health_body(version)

    @app.get("/v1/health")
    async def ready() -> JSONResponse:
        ok, checks = await readiness()
        return readiness_response(version, ok, checks)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
