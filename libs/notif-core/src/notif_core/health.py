"""Health endpoints every service serves, so probes and the runbook see one shape.

``/health`` is liveness (the process answers, and its work loops are turning: see
:class:`Heartbeat`); ``/v1/health`` is readiness (its dependencies answer) and returns 503
when one it cannot work without is down.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Readiness = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


class Heartbeat:
    """When each work loop last turned, for liveness.

    A loop calls :meth:`beat` with its own name on every turn (and while it waits on
    purpose). A loop stuck in an await that never returns stops beating; once the oldest
    beat is older than ``max_age`` seconds, ``/health`` answers 503 and the orchestrator
    restarts the process. ``max_age`` must exceed the longest quiet turn (a long poll).
    """

    def __init__(self, max_age: float = 120.0) -> None:
        self.max_age = max_age
        self._beats: dict[str, float] = {}

    def beat(self, loop: str = "main") -> None:
        self._beats[loop] = time.monotonic()

    def forget(self, loop: str) -> None:
        """A loop that ended on purpose no longer counts."""
        self._beats.pop(loop, None)

    def age(self) -> float:
        """Seconds since the oldest loop's last beat (0 before any loop started)."""
        return time.monotonic() - min(self._beats.values()) if self._beats else 0.0

    def alive(self) -> bool:
        return self.age() <= self.max_age


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


def probes_app(
    title: str, version: str, readiness: Readiness, heartbeat: Heartbeat | None = None
) -> FastAPI:
    """The small HTTP app of a worker: ``/health``, ``/v1/health`` and ``/metrics``.

    With a ``heartbeat``, ``/health`` answers 503 once its loops have stopped turning."""
    app = FastAPI(title=title, version=version, docs_url=None, redoc_url=None)

    @app.get("/health")
    async def health() -> JSONResponse:
        body = health_body(version)
        if heartbeat is None or heartbeat.alive():
            return JSONResponse(body)
        body["status"] = "unhealthy"
        body["heartbeat_age_seconds"] = round(heartbeat.age(), 1)
        return JSONResponse(body, status_code=503)

    @app.get("/v1/health")
    async def ready() -> JSONResponse:
        ok, checks = await readiness()
        return readiness_response(version, ok, checks)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
