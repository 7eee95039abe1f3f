"""The template catalogue on a database of its own: a sync replaces a business account's
templates whole, the door's copy finds them (and finds a new one at once), a business
account never synced is unavailable, and Meta's status webhook changes a status and asks
for the next sync."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import text
from tests.conftest import Stack

from ingest.settings import IngestSettings
from ingest.templates import catalogue
from ingest.templates.catalogue import Catalogue, Unavailable, Unknown
from ingest.templates.definition import Definition
from ingest.webhooks.webhook_inbox import WebhookInbox
from notif_core.db import make_engine

WABA = "200000000000001"
BODY = [{"type": "BODY", "text": "Order {{1}}"}]


def template(name: str, language: str = "en_US", status: str = "APPROVED") -> Definition:
    return Definition(
        WABA, name, language, "UTILITY", status, BODY, meta_id=f"9{len(name)}{language}"
    )


def status_update(name: str, language: str, event: str) -> bytes:
    value = {
        "event": event,
        "message_template_id": int(f"9{len(name)}" + "0"),
        "message_template_name": name,
        "message_template_language": language,
        "reason": "NONE",
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA,
                "time": 1764547200,
                "changes": [{"field": "message_template_status_update", "value": value}],
            }
        ],
    }
    return json.dumps(body).encode()


async def test_a_sync_replaces_the_catalogue_and_the_door_finds_it(stack: Stack) -> None:
    database_url = await asyncio.to_thread(stack.new_database, "catalogue", migrated=True)
    engine = make_engine(database_url, pool_size=2)
    door = Catalogue(engine, max_age=0.05)
    try:
        assert isinstance(await door.lookup(WABA, "order_update", "en_US"), Unavailable)

        await catalogue.replace(engine, WABA, [template("order_update"), template("sale", "es_ES")])
        await asyncio.sleep(catalogue.RECHECK_UNKNOWN_SECONDS)
        found = await door.lookup(WABA, "order_update", "en_US")
        assert isinstance(found, Definition)
        assert found.components == BODY
        missing = await door.lookup(WABA, "sale", "en_US")
        assert isinstance(missing, Unknown)
        assert missing.languages == ("es_ES",)
        assert isinstance(await door.lookup("999", "order_update", "en_US"), Unavailable)

        # the next sync drops what Meta no longer lists; the copy sees a new one at once
        await catalogue.replace(engine, WABA, [template("sale", "en_US")])
        await asyncio.sleep(catalogue.RECHECK_UNKNOWN_SECONDS)
        assert isinstance(await door.lookup(WABA, "sale", "en_US"), Definition)
        assert isinstance(await door.lookup(WABA, "order_update", "en_US"), Unknown)
        assert [d.name for d in await catalogue.listed(engine, [WABA])] == ["sale"]
    finally:
        await door.stop()
        await engine.dispose()


async def test_a_status_webhook_changes_the_status_and_asks_for_a_sync(stack: Stack) -> None:
    database_url = await asyncio.to_thread(stack.new_database, "catalogue_hook", migrated=True)
    engine = make_engine(database_url, pool_size=2)
    inbox = WebhookInbox(engine)
    try:
        promo = Definition(WABA, "promo", "en_US", "MARKETING", "APPROVED", BODY, meta_id="950")
        await catalogue.replace(engine, WABA, [promo, template("promo", "es_ES")])
        settings = IngestSettings(whatsapp_waba_id=WABA, template_sync_seconds=3600)
        assert await catalogue.due(engine, settings.wabas(), 3600) == []

        await inbox.store(status_update("promo", "en_US", "PAUSED"))
        async with engine.connect() as conn:
            statuses: dict[str, str] = dict(
                (await conn.execute(text("SELECT language, status FROM ingest.templates"))).all()
            )
        assert statuses == {"en_US": "PAUSED", "es_ES": "APPROVED"}
        assert await catalogue.due(engine, settings.wabas(), 3600) == [WABA]

        await inbox.store(status_update("promo", "en_US", "REINSTATED"))
        await inbox.store(status_update("promo", "en_US", "LOCKED"))  # not a status
        async with engine.connect() as conn:
            status = (
                await conn.execute(
                    text("SELECT status FROM ingest.templates WHERE language = 'en_US'")
                )
            ).scalar_one()
        assert status == "APPROVED"
    finally:
        await inbox.stop()
        await engine.dispose()
