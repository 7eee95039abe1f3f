"""FastAPI dependencies, in one place: settings, database, queues, the calling tenant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import structlog
from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.errors import ApiError
from ingest.keys import Tenant, authenticate
from ingest.outbox import OutboxPublisher
from ingest.settings import IngestSettings
from notif_core.sqs import Publisher, QueueUrls

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from types_aiobotocore_sqs import SQSClient


@dataclass
class AppState:
    """Everything the lifespan opens and the routes use."""

    settings: IngestSettings
    engine: AsyncEngine
    sqs: SQSClient
    publisher: Publisher
    queue_urls: QueueUrls
    outbox: OutboxPublisher
    redis: Redis


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.notif
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_tenant(
    state: State, x_api_key: Annotated[str | None, Header(alias="X-API-Key")] = None
) -> Tenant:
    if not x_api_key:
        raise ApiError(401, "missing_api_key", "Send your API key in the X-API-Key header.")
    async with state.engine.connect() as conn:
        tenant = await authenticate(conn, x_api_key)
    if tenant is None:
        raise ApiError(401, "invalid_api_key", "The API key is unknown or revoked.")
    structlog.contextvars.bind_contextvars(key_prefix=tenant.key_prefix, tenant_id=str(tenant.id))
    return tenant


CurrentTenant = Annotated[Tenant, Depends(get_tenant)]
