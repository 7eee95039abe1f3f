"""``/health`` (liveness: the process answers) and ``/v1/health`` (readiness: dependencies)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ingest.deps import State
from notif_core import __version__
from notif_core.db import ping
from notif_core.health import health_body, readiness_response

router = APIRouter(tags=["health"])
CHECK_TIMEOUT = 2.0


@router.get("/health")
async def health() -> dict[str, Any]:
    return health_body(__version__)


async def _queue_check(state: State) -> dict[str, Any]:
    try:

        async def fetch() -> Any:
            return await state.sqs.get_queue_attributes(
                QueueUrl=await state.queues.url("dispatch"),
                AttributeNames=["ApproximateNumberOfMessages"],
            )

        attrs = await asyncio.wait_for(fetch(), CHECK_TIMEOUT)
        depth = int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    except Exception:
        return {"connected": False}
    return {"connected": True, "dispatch_depth": depth}


async def _redis_check(state: State) -> dict[str, Any]:
    try:
        await asyncio.wait_for(state.redis.ping(), CHECK_TIMEOUT)
    except Exception:
        return {"connected": False}
    return {"connected": True}


@router.get("/v1/health")
async def readiness(state: State) -> JSONResponse:
    """200 when the database answers; 503 with ``connected: false`` when it does not."""
    db_ok, queue, redis = await asyncio.gather(
        asyncio.wait_for(ping(state.engine), CHECK_TIMEOUT + 3),
        _queue_check(state),
        _redis_check(state),
        return_exceptions=False,
    )
    checks = {"database": {"connected": db_ok}, "queue": queue, "redis": redis}
    return readiness_response(__version__, db_ok and queue["connected"], checks)
