"""Syncing a business account's template catalogue from Meta.

``GET {base}/{version}/{waba-id}/message_templates`` (Meta's Message Templates API,
developers.facebook.com/documentation/business-messaging/whatsapp/reference/
whatsapp-business-account/message-template-api) answers a page of templates in ``data`` and
``paging.cursors.after``; ``paging.next`` is present while more pages remain. Pages are
followed by :func:`ingest.meta_graph.pages`: by the ``after`` cursor against our own base
URL, never by the ``next`` URL itself, and only for a WABA id of digits, so neither an
answer nor a webhook can send the token anywhere else. The whole catalogue replaces the
stored one only when every page arrived.

When and which accounts are synced, and how a failure is tried again, is
:mod:`ingest.meta_reads`.
"""

from __future__ import annotations

from typing import Any

import httpx

from ingest import meta_graph, meta_reads
from ingest.metrics import TEMPLATE_SYNCS
from ingest.settings import IngestSettings
from ingest.templates import catalogue
from ingest.templates.definition import Definition
from notif_core.logging import get_logger

log = get_logger(__name__)
MAX_PAGES = 200
"""20,000 templates: far above Meta's limit per business account (a few hundred names in a
few dozen languages), so a cursor that never ends stops here."""
FIELDS = "id,name,language,status,category,parameter_format,components"
TIMEOUT_SECONDS = meta_graph.TIMEOUT_SECONDS


class SyncFailed(meta_graph.GraphError):
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


SOURCE: meta_reads.Source[Definition] = meta_reads.Source(
    "template_catalogue", TEMPLATE_SYNCS, catalogue.due, fetch, catalogue.replace
)
"""The template catalogue, for :mod:`ingest.meta_reads` (the relay, ``notifctl templates
sync``)."""
