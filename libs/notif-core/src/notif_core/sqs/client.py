"""Creation of the aiobotocore SQS client from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from notif_core.settings import CoreSettings

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient


@asynccontextmanager
async def sqs_client(settings: CoreSettings) -> AsyncIterator[SQSClient]:
    """An SQS client for the configured endpoint (local endpoint or AWS)."""
    config = AioConfig(
        # Our calls are built by our own typed code; botocore's per-call parameter
        # validation was a tenth of ingest's CPU under load.
        parameter_validation=False,
        max_pool_connections=50,
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
    )
    session = get_session()
    async with session.create_client(
        "sqs",
        region_name=settings.aws_region,
        endpoint_url=settings.sqs_endpoint_url,
        config=config,
    ) as client:
        yield client
