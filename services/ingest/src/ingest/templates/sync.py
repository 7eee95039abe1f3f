"""Syncing a business account's template catalogue from Meta.

``GET {base}/{version}/{waba-id}/message_templates`` (Meta's Message Templates API,
developers.facebook.com/documentation/business-messaging/whatsapp/reference/
whatsapp-business-account/message-template-api) answers a page of templates in ``data`` and
``paging.cursors.after``; ``paging.next`` is present while more pages remain. Pages are
followed by :func:`ingest.meta_graph.pages`: by the ``after`` cursor against our own base
URL, never by the ``next`` URL itself, and only for a WABA id of digits, so neither an
answer nor a webhook can send the token anywhere else. The whole catalogue replaces the
stored one only when every page arrived.

The accounts synced are those the settings name (``WHATSAPP_WABA_ID``, ``SENDER_WABAS``):
a webhook can ask for a sync sooner, never for another account. A failed sync is tried
again after a pause that doubles from 5 s up to TEMPLATE_SYNC_SECONDS, per account.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest import meta_graph
from ingest.metrics import TEMPLATE_SYNCS
from ingest.senders.sync import Backoff
from ingest.settings import IngestSettings
from ingest.templates import catalogue
from ingest.templates.definition import Definition
from notif_core.logging import get_logger

log = get_logger(__name__)
MAX_PAGES = 200
"""20,000 templates: far above Meta's limit per business account (a few hundred names in a
few dozen languages), so a cursor that never ends stops here."""
FIELDS = "id,name,language,status,category,parameter_format,components"
POLL_SECONDS = 5.0
TIMEOUT_SECONDS = meta_graph.TIMEOUT_SECONDS


class SyncFailed(Exception):
    """Meta's answer was an error or not a catalogue page; the stored catalogue stays."""


async def fetch(
    client: httpx.AsyncClient, settings: IngestSettings, waba_id: str
) -> list[Definition]:
    """Every template of ``waba_id``, all pages; raises :class:`SyncFailed` (also for a
    WABA id that is not digits: it would go into the URL's path)."""
    found: list[Definition] = []
    try:
        async for data in meta_graph.pages(
            client, settings, waba_id, "message_templates", FIELDS, MAX_PAGES
        ):
            found.extend(d for d in (_definition(waba_id, item) for item in data) if d)
    except meta_graph.GraphError as exc:
        raise SyncFailed(str(exc)) from exc
    return found


def _definition(waba_id: str, item: Any) -> Definition | None:
    """One template of a page; None (logged) for an item without name, language, status
    or category, which no send could use."""
    if not isinstance(item, dict):
        return None
    name, language = item.get("name"), item.get("language")
    status, category = item.get("status"), item.get("category")
    if not all(isinstance(v, str) and v for v in (name, language, status, category)):
        log.warning("template_item_skipped", waba_id=waba_id)
        return None
    components = item.get("components")
    return Definition(
        waba_id=waba_id,
        name=str(name),
        language=str(language),
        category=str(category).upper(),
        status=str(status).upper(),
        components=[c for c in components if isinstance(c, dict)]
        if isinstance(components, list)
        else [],
        parameter_format=str(item.get("parameter_format") or "POSITIONAL").upper(),
        meta_id=str(item["id"]) if item.get("id") is not None else None,
    )


async def sync_due(
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    settings: IngestSettings,
    *,
    every: bool = False,
    backoff: Backoff | None = None,
) -> dict[str, int | None]:
    """Sync every business account the settings name that is due (``catalogue.due``), or
    ``every`` one of them; returns each one's template count, None where the sync failed
    (it keeps its stored catalogue and is tried again once ``backoff`` allows)."""
    outcome: dict[str, int | None] = {}
    wabas = (
        settings.wabas()
        if every
        else await catalogue.due(engine, settings.wabas(), settings.template_sync_seconds)
    )
    for waba_id in wabas:
        if backoff is not None and not backoff.ready(waba_id):
            continue
        # Before asking Meta: a webhook stamped later than this is newer than the answer.
        started = await catalogue.database_now(engine)
        try:
            definitions = await fetch(client, settings, waba_id)
        except SyncFailed as exc:
            TEMPLATE_SYNCS.labels(outcome="failed").inc()
            pause = backoff.failed(waba_id) if backoff is not None else None
            log.warning("template_sync_failed", waba_id=waba_id, reason=str(exc), retry=pause)
            outcome[waba_id] = None
            continue
        await catalogue.replace(engine, waba_id, definitions, started)
        if backoff is not None:
            backoff.succeeded(waba_id)
        TEMPLATE_SYNCS.labels(outcome="synced").inc()
        log.info("template_catalogue_synced", waba_id=waba_id, templates=len(definitions))
        outcome[waba_id] = len(definitions)
    return outcome


async def keep_synced(engine: AsyncEngine, settings: IngestSettings) -> None:
    """The relay's loop: sync what is due, then look again ``POLL_SECONDS`` later (a status
    webhook asks for a sync through the table; the period is TEMPLATE_SYNC_SECONDS). A
    failing account waits 5 s, 10 s, 20 s… up to the period between tries, not 5 s each."""
    backoff = Backoff(cap=settings.template_sync_seconds)
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
        while True:
            try:
                await sync_due(engine, client, settings, backoff=backoff)
            except Exception as exc:  # the database is away: next time
                log.warning("template_sync_loop_failed", error=type(exc).__name__)
            await asyncio.sleep(POLL_SECONDS)
