"""``/health`` (liveness: the process answers) and ``/v1/health`` (readiness: dependencies)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ingest.api.deps import State
from notif_core import __version__
from notif_core.db import ping
from notif_core.health import health_body, readiness_response

router = APIRouter(tags=["health"])
CHECK_TIMEOUT = 2.0


@router.get("/health")
async def health() -> dict[str, Any]:
    return health_body(__version__)


async def _redis_check(state: State) -> dict[str, Any]:
    try:
        await asyncio.wait_for(state.redis.ping(), CHECK_TIMEOUT)
    except Exception:
        return {"connected": False}
    return {"connected": True}


@router.get("/v1/health")
async def readiness(state: State) -> JSONResponse:
    """200 when the database answers; 503 with ``connected: false`` when it does not.

    SQS is not checked: the API never calls it (the relay does, and reports it), so an SQS
    outage must not take the API out of service. Redis is reported; without it the rate
    limit is skipped, not the request.
    """
    db_ok, redis = await asyncio.gather(
        asyncio.wait_for(ping(state.engine), CHECK_TIMEOUT + 3), _redis_check(state)
    )
    checks = {"database": {"connected": db_ok}, "redis": redis}
    return readiness_response(__version__, db_ok, checks)
