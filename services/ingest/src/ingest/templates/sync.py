"""Syncing a business account's template catalogue from Meta.

``GET {base}/{version}/{waba-id}/message_templates`` (Meta's Message Templates API,
developers.facebook.com/documentation/business-messaging/whatsapp/reference/
whatsapp-business-account/message-template-api) answers a page of templates in ``data`` and
``paging.cursors.after``; ``paging.next`` is present while more pages remain. Pages are
followed by the ``after`` cursor against our own base URL, never by the ``next`` URL
itself, so an answer cannot send the token anywhere else. The whole catalogue replaces the
stored one only when every page arrived.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.metrics import TEMPLATE_SYNCS
from ingest.settings import IngestSettings
from ingest.templates import catalogue
from ingest.templates.definition import Definition
from notif_core.logging import get_logger

log = get_logger(__name__)
PAGE_SIZE = 100
MAX_PAGES = 200
"""20,000 templates: far above Meta's limit per business account (a few hundred names in a
few dozen languages), so a cursor that never ends stops here."""
FIELDS = "id,name,language,status,category,parameter_format,components"
POLL_SECONDS = 5.0
TIMEOUT_SECONDS = 10.0


class SyncFailed(Exception):
    """Meta's answer was an error or not a catalogue page; the stored catalogue stays."""


async def fetch(
    client: httpx.AsyncClient, settings: IngestSettings, waba_id: str
) -> list[Definition]:
    """Every template of ``waba_id``, all pages; raises :class:`SyncFailed`."""
    base = settings.whatsapp_api_base_url.rstrip("/")
    url = f"{base}/{settings.whatsapp_api_version}/{waba_id}/message_templates"
    token = settings.whatsapp_access_token.get_secret_value()
    params: dict[str, str | int] = {"limit": PAGE_SIZE, "fields": FIELDS}
    found: list[Definition] = []
    for _ in range(MAX_PAGES):
        try:
            response = await client.get(
                url, params=params, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise SyncFailed(f"{type(exc).__name__} calling message_templates") from exc
        page = _page(response)
        found.extend(d for d in (_definition(waba_id, item) for item in page["data"]) if d)
        paging = _object(page.get("paging"))
        after = _object(paging.get("cursors")).get("after")
        if not paging.get("next") or not isinstance(after, str) or not after:
            return found
        params = {**params, "after": after}
    raise SyncFailed(f"more than {MAX_PAGES} pages")


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _page(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        raise SyncFailed(f"HTTP {response.status_code}, Meta error code {code}")
    if not isinstance(body.get("data"), list):
        raise SyncFailed("the answer has no data list")
    return body


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
) -> dict[str, int | None]:
    """Sync every business account that is due (``catalogue.due``), or ``every`` one the
    settings name; returns each one's template count, None where the sync failed (it keeps
    its stored catalogue and is tried again next time)."""
    outcome: dict[str, int | None] = {}
    wabas = (
        settings.wabas()
        if every
        else await catalogue.due(engine, settings.wabas(), settings.template_sync_seconds)
    )
    for waba_id in wabas:
        try:
            definitions = await fetch(client, settings, waba_id)
        except SyncFailed as exc:
            TEMPLATE_SYNCS.labels(outcome="failed").inc()
            log.warning("template_sync_failed", waba_id=waba_id, reason=str(exc))
            outcome[waba_id] = None
            continue
        await catalogue.replace(engine, waba_id, definitions)
        TEMPLATE_SYNCS.labels(outcome="synced").inc()
        log.info("template_catalogue_synced", waba_id=waba_id, templates=len(definitions))
        outcome[waba_id] = len(definitions)
    return outcome


async def keep_synced(engine: AsyncEngine, settings: IngestSettings) -> None:
    """The relay's loop: sync what is due, then look again ``POLL_SECONDS`` later (a status
    webhook asks for a sync through the table; the period is TEMPLATE_SYNC_SECONDS)."""
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
        while True:
            try:
                await sync_due(engine, client, settings)
            except Exception as exc:  # the database is away: next time
                log.warning("template_sync_loop_failed", error=type(exc).__name__)
            await asyncio.sleep(POLL_SECONDS)
