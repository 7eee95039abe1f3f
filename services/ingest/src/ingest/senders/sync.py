"""Reading each business account's sender numbers from Meta, for the relay.

``GET {base}/{version}/{waba-id}/phone_numbers?fields=…`` (Meta: "WhatsApp Business
Account > Phone Numbers", developers.facebook.com/documentation/business-messaging/
whatsapp/reference/whatsapp-business-account/phone-number-api) lists each number's ``id``,
``display_phone_number`` (formatted, ``+1 555-078-3881``), ``quality_rating`` (GREEN,
YELLOW, RED, UNKNOWN), ``messaging_limit_tier`` and ``throughput.level`` (STANDARD: 80
messages/s; HIGH: up to 1,000). The accounts read are those the settings name
(``WHATSAPP_WABA_ID``, ``SENDER_WABAS``): a webhook can ask for a read sooner, never for
another account. A failed read is tried again after a doubling pause, up to the period.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest import meta_graph
from ingest.metrics import SENDER_SYNCS
from ingest.senders import store
from ingest.senders.reports import digits
from ingest.settings import IngestSettings
from notif_core.logging import get_logger

log = get_logger(__name__)
FIELDS = "id,display_phone_number,quality_rating,messaging_limit_tier,throughput"
MAX_PAGES = 20
"""2,000 numbers: Meta allows a business a few dozen (more on request)."""
POLL_SECONDS = 5.0
FIRST_RETRY_SECONDS = 5.0


def _upper(value: Any) -> str | None:
    return value.strip().upper()[:64] if isinstance(value, str) and value.strip() else None


def _number(item: Any) -> store.NumberState | None:
    if not isinstance(item, dict):
        return None
    pnid, display = item.get("id"), item.get("display_phone_number")
    if not isinstance(pnid, str | int) or not str(pnid).isdigit() or not isinstance(display, str):
        return None
    number = digits(display)
    if not number or len(number) > 20:
        return None
    throughput = item.get("throughput")
    return store.NumberState(
        phone_number_id=str(pnid),
        display_digits=number,
        quality_rating=_upper(item.get("quality_rating")),
        messaging_limit=_upper(item.get("messaging_limit_tier")),
        throughput_level=_upper(throughput.get("level")) if isinstance(throughput, dict) else None,
    )


async def fetch(
    client: httpx.AsyncClient, settings: IngestSettings, waba_id: str
) -> list[store.NumberState]:
    """Every number of ``waba_id``; raises :class:`meta_graph.GraphError`."""
    found: list[store.NumberState] = []
    async for data in meta_graph.pages(
        client, settings, waba_id, "phone_numbers", FIELDS, MAX_PAGES
    ):
        found.extend(n for n in map(_number, data) if n is not None)
    return found


class Backoff:
    """Per account: when a failed read may be tried again (doubling, up to ``cap``)."""

    def __init__(self, cap: float) -> None:
        self._cap = cap
        self._next: dict[str, tuple[float, float]] = {}

    def ready(self, key: str) -> bool:
        entry = self._next.get(key)
        return entry is None or time.monotonic() >= entry[0]

    def failed(self, key: str) -> float:
        pause = min(self._cap, self._next.get(key, (0.0, FIRST_RETRY_SECONDS / 2))[1] * 2)
        self._next[key] = (time.monotonic() + pause, pause)
        return pause

    def succeeded(self, key: str) -> None:
        self._next.pop(key, None)


async def sync_due(
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    settings: IngestSettings,
    backoff: Backoff | None = None,
) -> dict[str, int | None]:
    """Read every account that is due; returns each one's number count, None where the
    read failed (its stored numbers stay)."""
    outcome: dict[str, int | None] = {}
    for waba_id in await store.due(engine, settings.wabas(), settings.template_sync_seconds):
        if backoff is not None and not backoff.ready(waba_id):
            continue
        started = await store.database_now(engine)
        try:
            numbers = await fetch(client, settings, waba_id)
        except meta_graph.GraphError as exc:
            SENDER_SYNCS.labels(outcome="failed").inc()
            pause = backoff.failed(waba_id) if backoff is not None else None
            log.warning("sender_numbers_not_read", waba_id=waba_id, reason=str(exc), retry=pause)
            outcome[waba_id] = None
            continue
        await store.numbers_synced(engine, waba_id, numbers, started)
        if backoff is not None:
            backoff.succeeded(waba_id)
        SENDER_SYNCS.labels(outcome="synced").inc()
        log.info("sender_numbers_read", waba_id=waba_id, numbers=len(numbers))
        outcome[waba_id] = len(numbers)
    return outcome


async def keep_synced(engine: AsyncEngine, settings: IngestSettings) -> None:
    """The relay's loop: read what is due, then look again ``POLL_SECONDS`` later."""
    backoff = Backoff(cap=settings.template_sync_seconds)
    async with httpx.AsyncClient(timeout=meta_graph.TIMEOUT_SECONDS) as client:
        while True:
            try:
                await sync_due(engine, client, settings, backoff)
            except Exception as exc:  # the database is away: next time
                log.warning("sender_sync_loop_failed", error=type(exc).__name__)
            await asyncio.sleep(POLL_SECONDS)
