"""Reading each business account's sender numbers from Meta, for the relay.

``GET {base}/{version}/{waba-id}/phone_numbers?fields=…`` (Meta: "WhatsApp Business
Account > Phone Numbers", developers.facebook.com/documentation/business-messaging/
whatsapp/reference/whatsapp-business-account/phone-number-api) lists each number's ``id``,
``display_phone_number`` (formatted, ``+1 555-078-3881``), ``quality_rating`` (GREEN,
YELLOW, RED, UNKNOWN), ``messaging_limit_tier`` and ``throughput.level`` (STANDARD: 80
messages/s; HIGH: up to 1,000). When and which accounts are read is
:mod:`ingest.meta_reads`.
"""

from __future__ import annotations

from typing import Any

import httpx

from ingest import meta_graph, meta_reads
from ingest.metrics import SENDER_SYNCS
from ingest.senders import store
from ingest.senders.reports import digits
from ingest.settings import IngestSettings

FIELDS = "id,display_phone_number,quality_rating,messaging_limit_tier,throughput"
MAX_PAGES = 20
"""2,000 numbers: Meta allows a business a few dozen (more on request)."""


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


SOURCE: meta_reads.Source[store.NumberState] = meta_reads.Source(
    "sender_numbers", SENDER_SYNCS, store.due, fetch, store.numbers_synced
)
"""The sender numbers, for :mod:`ingest.meta_reads` (the relay)."""
