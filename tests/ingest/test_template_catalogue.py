"""The template catalogue on a database of its own: a sync replaces a business account's
templates whole, the door's copy finds them (and finds a new one at once), a business
account never synced is unavailable, and Meta's status webhook changes a status and asks
for the next sync."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import text
from tests.conftest import Stack

from ingest import meta_reads
from ingest.metrics import TEMPLATE_STATUS_IGNORED, TEMPLATE_SYNCS
from ingest.settings import IngestSettings
from ingest.templates import catalogue, sync
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


async def test_a_webhook_during_a_sync_keeps_its_status_and_its_request(stack: Stack) -> None:
    database_url = await asyncio.to_thread(stack.new_database, "catalogue_race", migrated=True)
    engine = make_engine(database_url, pool_size=2)
    inbox = WebhookInbox(engine)
    try:
        promo = Definition(WABA, "promo", "en_US", "MARKETING", "APPROVED", BODY, meta_id="950")
        await catalogue.replace(engine, WABA, [promo])
        started = await meta_reads.database_now(engine)  # the sync asks Meta...
        await inbox.store(status_update("promo", "en_US", "PAUSED"))  # ...a pause lands...
        await catalogue.replace(engine, WABA, [promo, template("new")], started)  # ...the answer
        async with engine.connect() as conn:
            statuses: dict[str, str] = dict(
                (await conn.execute(text("SELECT name, status FROM ingest.templates"))).all()
            )
        assert statuses == {"promo": "PAUSED", "new": "APPROVED"}
        assert await catalogue.due(engine, [WABA], 3600) == [WABA]  # the request stands

        # the next sync began after the webhook: Meta's answer is the newer one
        started = await meta_reads.database_now(engine)
        await catalogue.replace(engine, WABA, [promo], started)
        async with engine.connect() as conn:
            statuses = dict(
                (await conn.execute(text("SELECT name, status FROM ingest.templates"))).all()
            )
        assert statuses == {"promo": "APPROVED"}
        assert await catalogue.due(engine, [WABA], 3600) == []
    finally:
        await inbox.stop()
        await engine.dispose()


async def test_only_configured_business_accounts_are_synced(stack: Stack) -> None:
    database_url = await asyncio.to_thread(stack.new_database, "catalogue_wabas", migrated=True)
    engine = make_engine(database_url, pool_size=2)
    inbox = WebhookInbox(engine)
    calls: list[str] = []

    def meta(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(500, json={"error": {"code": 2}})

    settings = IngestSettings(
        database_url=database_url, whatsapp_waba_id=WABA, template_sync_seconds=60
    )
    try:
        ignored = TEMPLATE_STATUS_IGNORED._value.get()
        stranger = status_update("promo", "en_US", "PAUSED").replace(WABA.encode(), b"../../x")
        await inbox.store(stranger)
        assert TEMPLATE_STATUS_IGNORED._value.get() == ignored + 1
        async with engine.connect() as conn:
            count = (
                await conn.execute(text("SELECT count(*) FROM ingest.template_catalogues"))
            ).scalar_one()
        assert count == 0
        assert await catalogue.due(engine, settings.wabas(), 60) == [WABA]

        failed = TEMPLATE_SYNCS.labels(outcome="failed")._value.get()
        backoff = meta_reads.Backoff(cap=60)
        async with httpx.AsyncClient(transport=httpx.MockTransport(meta)) as client:
            assert await meta_reads.read_due(
                engine, client, settings, sync.SOURCE, backoff=backoff
            ) == {WABA: None}
            # failed: not asked again at once, though still due
            assert (
                await meta_reads.read_due(engine, client, settings, sync.SOURCE, backoff=backoff)
                == {}
            )
            assert not backoff.ready(WABA)
            with pytest.raises(sync.SyncFailed):  # an id that is not digits never reaches a URL
                await sync.fetch(client, settings, "../../x")
        assert calls == [f"/{settings.whatsapp_api_version}/{WABA}/message_templates"]
        assert TEMPLATE_SYNCS.labels(outcome="failed")._value.get() == failed + 1
    finally:
        await inbox.stop()
        await engine.dispose()


def test_settings_refuse_waba_ids_that_are_not_digits() -> None:
    for bad in ({"whatsapp_waba_id": "12/../34"}, {"sender_wabas": "100000000000002:abc"}):
        with pytest.raises(ValidationError, match="digits only"):
            IngestSettings(**bad)  # type: ignore[arg-type]
    multi = IngestSettings(sender_wabas="100000000000002:300000000000003")
    assert multi.waba_of("100000000000002") == "300000000000003"
    assert multi.waba_of(multi.whatsapp_phone_number_id) == multi.whatsapp_waba_id
    assert multi.waba_of("100000000000009") is None
    assert IngestSettings().waba_of("100000000000009") == IngestSettings().whatsapp_waba_id


async def test_the_door_refreshes_in_the_background_and_asks_for_what_it_lacks(
    stack: Stack,
) -> None:
    database_url = await asyncio.to_thread(stack.new_database, "catalogue_door", migrated=True)
    engine = make_engine(database_url, pool_size=2)
    inbox = WebhookInbox(engine)
    door = Catalogue(engine, max_age=3600)  # no background refresh during the test
    try:
        first = [template("order_update"), template("sale", "es_ES"), template("gone")]
        await catalogue.replace(engine, WABA, first)
        assert isinstance(await door.lookup(WABA, "order_update", "en_US"), Definition)
        asked = door.point_queries

        # a template approved after the copy was read: one point query finds it
        await catalogue.replace(engine, WABA, [*first, template("sale", "en_US")])
        found = await door.lookup(WABA, "sale", "en_US")
        assert isinstance(found, Definition)
        assert door.point_queries == asked + 1
        assert isinstance(await door.lookup(WABA, "sale", "en_US"), Definition)
        assert door.point_queries == asked + 1  # remembered for a second, not asked again
        missing = await door.lookup(WABA, "sale", "fr_FR")
        assert isinstance(missing, Unknown)
        assert missing.languages == ("en_US", "es_ES")

        # a status webhook and a sync that drops a template reach the copy incrementally
        await inbox.store(status_update("order_update", "en_US", "PAUSED"))
        await catalogue.replace(engine, WABA, [template("order_update", status="PAUSED")])
        await door.refresh()
        paused = await door.lookup(WABA, "order_update", "en_US")
        assert isinstance(paused, Definition)
        assert paused.status == "PAUSED"
        await asyncio.sleep(catalogue.RECHECK_UNKNOWN_SECONDS)
        assert isinstance(await door.lookup(WABA, "gone", "en_US"), Unknown)
        async with engine.begin() as conn:  # a webhook alone, no sync
            await conn.execute(
                text(
                    "UPDATE ingest.templates SET status = 'APPROVED', "
                    "updated_at = clock_timestamp() WHERE name = 'order_update'"
                )
            )
        await door.refresh()
        approved = await door.lookup(WABA, "order_update", "en_US")
        assert isinstance(approved, Definition)
        assert approved.status == "APPROVED"

        # a flood of unknown names costs at most the budget of point queries
        budget = Catalogue(engine, max_age=3600, point_queries_per_second=5)
        try:
            await budget.lookup(WABA, "order_update", "en_US")
            answers = await asyncio.gather(
                *(budget.lookup(WABA, f"nope_{n}", "en_US") for n in range(50))
            )
            assert all(isinstance(a, Unknown) for a in answers)
            assert budget.point_queries <= 6
        finally:
            await budget.stop()
    finally:
        await door.stop()
        await inbox.stop()
        await engine.dispose()
