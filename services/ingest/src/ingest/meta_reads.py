"""Keeping what ingest reads from Meta per business account up to date: the template
catalogue and the sender numbers, each a :class:`Source`, run by the relay.

An account is read when it is due (never read, read ``TEMPLATE_SYNC_SECONDS`` ago, or a
webhook asked for it), and only an account the settings name (``WHATSAPP_WABA_ID``,
``SENDER_WABAS``). The database's time is noted before Meta is asked, so a webhook that
lands during the read is newer than its answer and stands. A failed read keeps what is
stored and is tried again after a doubling pause (5 s, 10 s, …, up to the period).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import httpx
from prometheus_client import Counter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest import meta_graph
from ingest.settings import IngestSettings
from notif_core.logging import get_logger

log = get_logger(__name__)
POLL_SECONDS = 5.0
FIRST_RETRY_SECONDS = 5.0
T = TypeVar("T")


@dataclass(frozen=True)
class Source(Generic[T]):
    """One thing read from Meta per business account. ``fetch`` raises
    :class:`meta_graph.GraphError`; ``store`` gets the items and the database time the read
    began."""

    name: str
    """For logs: ``template_catalogue``, ``sender_numbers``."""
    metric: Counter
    due: Callable[[AsyncEngine, Sequence[str], float], Awaitable[list[str]]]
    fetch: Callable[[httpx.AsyncClient, IngestSettings, str], Awaitable[list[T]]]
    store: Callable[[AsyncEngine, str, list[T], datetime], Awaitable[None]]


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


async def database_now(engine: AsyncEngine) -> datetime:
    async with engine.connect() as conn:
        now: datetime = (await conn.execute(select(func.now()))).scalar_one()
    return now


async def read_due(
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    settings: IngestSettings,
    source: Source[T],
    *,
    backoff: Backoff | None = None,
    every: bool = False,
) -> dict[str, int | None]:
    """Read every account that is due (or ``every`` one the settings name); returns each
    one's item count, None where the read failed."""
    wabas = (
        settings.wabas()
        if every
        else await source.due(engine, settings.wabas(), settings.template_sync_seconds)
    )
    outcome: dict[str, int | None] = {}
    for waba_id in wabas:
        if backoff is not None and not backoff.ready(waba_id):
            continue
        started = await database_now(engine)
        try:
            items = await source.fetch(client, settings, waba_id)
        except meta_graph.GraphError as exc:
            source.metric.labels(outcome="failed").inc()
            pause = backoff.failed(waba_id) if backoff is not None else None
            log.warning(f"{source.name}_not_read", waba_id=waba_id, reason=str(exc), retry=pause)
            outcome[waba_id] = None
            continue
        await source.store(engine, waba_id, items, started)
        if backoff is not None:
            backoff.succeeded(waba_id)
        source.metric.labels(outcome="synced").inc()
        log.info(f"{source.name}_read", waba_id=waba_id, items=len(items))
        outcome[waba_id] = len(items)
    return outcome


async def keep_read(engine: AsyncEngine, settings: IngestSettings, source: Source[T]) -> None:
    """The relay's loop for one source: read what is due, look again ``POLL_SECONDS`` later."""
    backoff = Backoff(cap=settings.template_sync_seconds)
    async with httpx.AsyncClient(timeout=meta_graph.TIMEOUT_SECONDS) as client:
        while True:
            try:
                await read_due(engine, client, settings, source, backoff=backoff)
            except Exception as exc:  # the database is away: next time
                log.warning(f"{source.name}_loop_failed", error=type(exc).__name__)
            await asyncio.sleep(POLL_SECONDS)
