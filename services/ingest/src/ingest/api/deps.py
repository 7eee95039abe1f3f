"""FastAPI dependencies, in one place: settings, database, queues, the calling tenant."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import httpx
import structlog
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.account.keys import KeyCache, Tenant
from ingest.api.errors import ApiError
from ingest.metrics import RATE_LIMITED
from ingest.notifications.group_commit import GroupCommitter
from ingest.settings import IngestSettings
from ingest.templates.catalogue import Catalogue
from ingest.webhooks.webhook_inbox import WebhookInbox
from notif_core.logging import get_logger
from notif_core.ratelimit import LeasedLimiter

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = get_logger(__name__)


@dataclass
class AppState:
    """Everything the lifespan opens and the routes use (no SQS: the relay publishes)."""

    settings: IngestSettings
    engine: AsyncEngine
    committer: GroupCommitter
    inbox: WebhookInbox
    catalogue: Catalogue
    redis: Redis
    keys: KeyCache
    limiter: LeasedLimiter
    meta: httpx.AsyncClient
    """Calls to Meta's Graph API on a tenant's behalf (read receipts, media)."""


async def get_state(request: Request) -> AppState:
    """Async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread."""
    state: AppState = request.app.state.notif
    return state


State = Annotated[AppState, Depends(get_state)]


API_KEY = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    description="Your API key (wn_live_…).",
    auto_error=False,  # our own 401 body, with a stable code
)


async def admit(state: AppState, x_api_key: str | None) -> Tenant:
    """The key's tenant, admitted under its rate limit: 401 for a missing or unknown key,
    429 with Retry-After over the limit. Shared by the ``Depends`` routes and the direct one.
    Every request costs one token; a batch pays for its other notifications with
    :func:`charge_batch`."""
    if not x_api_key:
        raise ApiError(401, "missing_api_key", "Send your API key in the X-API-Key header.")
    tenant = await state.keys.tenant_for(x_api_key)
    if tenant is None:
        raise ApiError(401, "invalid_api_key", "The API key is unknown or revoked.")
    structlog.contextvars.bind_contextvars(key_prefix=tenant.key_prefix, tenant_id=str(tenant.id))
    await _charge(state, tenant, 1, "requests")
    return tenant


async def charge_batch(state: AppState, tenant: Tenant, size: int) -> None:
    """A batch of ``size`` notifications costs ``size`` tokens of its key's limit: the one
    :func:`admit` took, and ``size - 1`` more here. A batch larger than the burst could
    never pass: 429 ``batch_exceeds_burst``, with the burst to split by and, as
    Retry-After, the time the bucket takes to fill up again."""
    rate, burst = _limits(state, tenant)
    if size > burst:
        RATE_LIMITED.inc()
        raise ApiError(
            429,
            "batch_exceeds_burst",
            f"A batch of {size} notifications costs {size} of this key's rate limit, more "
            f"than its burst of {burst}: send at most {burst} per batch.",
            headers={"Retry-After": str(max(1, math.ceil(burst / rate)))},
            burst=burst,
        )
    if size > 1:
        await _charge(state, tenant, size - 1, "notifications")


def _limits(state: AppState, tenant: Tenant) -> tuple[float, int]:
    settings = state.settings
    rate = tenant.rate_limit_per_second or settings.api_rate_limit_per_second
    return rate, max(settings.api_rate_limit_burst, 1)


async def _charge(state: AppState, tenant: Tenant, cost: int, unit: str) -> None:
    rate, burst = _limits(state, tenant)
    try:
        decision = await state.limiter.allow(f"key:{tenant.key_id}", rate, burst, cost)
    except Exception as exc:  # Redis down: serve rather than refuse everyone
        log.warning("rate_limiter_unavailable", error=type(exc).__name__)
        return
    if not decision.allowed:
        RATE_LIMITED.inc()
        raise ApiError(
            429,
            "rate_limited",
            f"More than {rate} {unit} per second for this key.",
            headers={"Retry-After": str(max(1, math.ceil(decision.retry_after)))},
        )


async def get_tenant(
    state: State, x_api_key: Annotated[str | None, Security(API_KEY)] = None
) -> Tenant:
    return await admit(state, x_api_key)


CurrentTenant = Annotated[Tenant, Depends(get_tenant)]
