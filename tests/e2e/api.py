"""Small HTTP helpers the end-to-end tests share: send, read, wait for a status."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from notif_core.db import libpq_url
from notif_core.events import NotificationAccepted, parse_event
from notif_core.identity import recipient_key
from notif_core.settings import CoreSettings
from notif_core.sqs import QueueKey, QueueNames, queue_depths, sqs_client
from tests.e2e.services import Services


def hello(to: str) -> dict[str, Any]:
    return {"to": to, "template": {"name": "hello_world", "language": "en_US"}}


def post(services: Services, key: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        services.url("ingest") + "/v1/notifications", json=body, headers={"X-API-Key": key}
    )


def get(services: Services, key: str, nid: str) -> dict[str, Any]:
    response = httpx.get(
        services.url("ingest") + f"/v1/notifications/{nid}", headers={"X-API-Key": key}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_status(
    services: Services, key: str, nid: str, status: str, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    view = get(services, key, nid)
    while view["status"] != status and time.monotonic() < deadline:
        time.sleep(0.1)
        view = get(services, key, nid)
    assert view["status"] == status, view
    return view


def sandbox_sends(services: Services, nid: str) -> list[dict[str, Any]]:
    response = httpx.get(
        services.url("sandbox") + "/_sandbox/messages", params={"biz_opaque_callback_data": nid}
    )
    return response.json()["messages"]  # type: ignore[no-any-return]


def open_window(services: Services, database_url: str, to: str, within: float = 10) -> None:
    """The user writes in (sandbox inbound), and we wait until the ledger knows: the
    dispatcher checks the 24h window against the ledger before sending free-form text."""
    import psycopg

    response = httpx.post(
        services.url("sandbox") + "/_sandbox/inbound", json={"from": to, "text": "hi"}
    )
    assert response.status_code == 200
    dsn = libpq_url(database_url)
    deadline = time.monotonic() + within
    with psycopg.connect(dsn) as conn:
        while time.monotonic() < deadline:
            found = conn.execute(
                "SELECT 1 FROM ledger.windows WHERE recipient = %s", (recipient_key(to),)
            ).fetchone()
            if found:
                return
            time.sleep(0.05)
    raise TimeoutError(f"the ledger did not record the inbound message from {to}")


async def wait_queues_empty(lanes: Sequence[QueueKey], within: float) -> None:
    """Until the lanes' queues hold nothing visible or in flight (their consumers caught up)."""
    settings = CoreSettings()
    names = QueueNames(settings.queue_prefix)
    queues = [getattr(names, lane) for lane in lanes]
    depths: dict[str, int] = {}
    deadline = time.monotonic() + within
    async with sqs_client(settings) as sqs:
        while time.monotonic() < deadline:
            depths = await queue_depths(sqs, queues)
            if not any(depths.values()):
                return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"queues still busy: {depths}")


async def dispatch_command(engine: AsyncEngine, nid: str) -> NotificationAccepted:
    """The dispatch command ingest queued for ``nid``, as its outbox row holds it."""
    async with engine.connect() as conn:
        body = (
            await conn.execute(
                text(
                    "SELECT body FROM ingest.outbox WHERE queue = 'dispatch' "
                    "AND body::jsonb->>'notification_id' = :id"
                ),
                {"id": nid},
            )
        ).scalar_one()
    event = parse_event(body)
    assert isinstance(event, NotificationAccepted)
    return event
