"""Meta's reports of a number's and an account's standing: read from webhook items, stored
in the webhook's transaction, merged with reads of Meta's phone-number API without losing
a newer webhook, and published through ``ingest.sender_health_v1()``."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack

from ingest import meta_reads
from ingest.senders import store
from ingest.senders.reports import (
    AccountReport,
    NumberReport,
    Restriction,
    account_report,
    number_report,
)
from ingest.webhooks.meta_webhooks import translate
from ingest.webhooks.webhook_inbox import WebhookInbox
from notif_core.db import make_engine

WABA = "200000000000077"
QUALITY = {
    "display_phone_number": "15550783881",
    "event": "DOWNGRADE",
    "old_limit": "TIER_2K",
    "current_limit": "TIER_250",
    "max_daily_conversations_per_business": "TIER_250",
}
RESTRICTED = {
    "event": "ACCOUNT_RESTRICTION",
    "restriction_info": [
        {
            "restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
            "expiration": "2027-04-19T13:59:20+0000",
        },
        {"restriction_type": "RESTRICTED_ADD_PHONE_NUMBER_ACTION", "expiration": 1800000000},
    ],
}


def body(field: str, value: dict[str, Any], waba: str = WABA) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba, "time": 1764244800, "changes": [{"field": field, "value": value}]}],
    }


def test_a_quality_item_names_the_portfolio_limit_first() -> None:
    report = number_report(WABA, QUALITY | {"current_limit": "TIER_2K"})
    assert report == NumberReport(WABA, "15550783881", "DOWNGRADE", "TIER_250")
    older = {k: v for k, v in QUALITY.items() if k != "max_daily_conversations_per_business"}
    assert number_report(WABA, older).messaging_limit == "TIER_250"
    upgrade = {"display_phone_number": "+1 555-078-3881", "event": "throughput_upgrade"}
    assert number_report(int(WABA), upgrade) == NumberReport(
        WABA, "15550783881", "THROUGHPUT_UPGRADE", None
    )


@pytest.mark.parametrize(
    ("waba", "value"),
    [
        (WABA, QUALITY | {"display_phone_number": "none"}),
        (WABA, QUALITY | {"event": "<script>"}),
        ("../../x", QUALITY),
        (None, QUALITY),
        (WABA, QUALITY | {"display_phone_number": "1" * 40}),
    ],
)
def test_a_quality_item_without_account_number_or_event_is_refused(waba: Any, value: Any) -> None:
    with pytest.raises(ValueError, match=r"needs its|not an id"):
        number_report(waba, value)


def test_an_account_item_carries_its_restrictions_and_ban() -> None:
    report = account_report(WABA, RESTRICTED)
    assert report.event == "ACCOUNT_RESTRICTION"
    assert report.restrictions == (
        Restriction(
            "RESTRICTED_BIZ_INITIATED_MESSAGING", datetime(2027, 4, 19, 13, 59, 20, tzinfo=UTC)
        ),
        Restriction("RESTRICTED_ADD_PHONE_NUMBER_ACTION", datetime.fromtimestamp(1800000000, UTC)),
    )
    banned = account_report(
        WABA, {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE"}}
    )
    assert banned == AccountReport(WABA, "DISABLED_UPDATE", "DISABLE", None, None)


def test_a_body_s_standing_reports_are_translated_alongside_its_events() -> None:
    both = body("phone_number_quality_update", QUALITY)
    both["entry"][0]["changes"].append({"field": "account_update", "value": RESTRICTED})
    both["entry"][0]["changes"].append({"field": "account_update", "value": {"no": "event"}})
    found = translate(both)
    assert [type(r).__name__ for r in found.senders] == ["NumberReport", "AccountReport"]
    assert found.changes_state
    assert found.untranslated == ["sender"]


async def _health(engine: AsyncEngine, waba: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT * FROM ingest.sender_health_v1() WHERE waba_id = :w ORDER BY 2"),
            {"w": waba},
        )
        return [dict(r._mapping) for r in rows]


async def _requested(engine: AsyncEngine, waba: str) -> datetime | None:
    async with engine.connect() as conn:
        found: datetime | None = (
            await conn.execute(
                text(
                    "SELECT numbers_sync_requested_at FROM ingest.business_accounts "
                    "WHERE waba_id = :w"
                ),
                {"w": waba},
            )
        ).scalar()
        return found


async def test_webhooks_and_reads_of_meta_s_api_merge_without_losing_the_newer(
    stack: Stack,
) -> None:
    database_url = await asyncio.to_thread(stack.new_database, "health", migrated=True)
    engine = make_engine(database_url, pool_size=1)
    inbox = WebhookInbox(engine)
    try:
        before_webhook = await meta_reads.database_now(engine)
        await inbox.store(json.dumps(body("phone_number_quality_update", QUALITY)).encode())
        await inbox.store(json.dumps(body("account_update", RESTRICTED)).encode())
        assert await _requested(engine, WABA) is not None  # the webhook asks for a read
        # The number is not yet known by id: the contract lists the account alone.
        [account] = await _health(engine, WABA)
        assert account["phone_number_id"] is None
        assert [r["type"] for r in account["restrictions"]] == [
            "RESTRICTED_BIZ_INITIATED_MESSAGING",
            "RESTRICTED_ADD_PHONE_NUMBER_ACTION",
        ]

        listed = store.NumberState("100000000000077", "15550783881", "YELLOW", "TIER_2K", "HIGH")
        # A read that began before the webhook: the webhook's limit and request stand.
        await store.numbers_synced(engine, WABA, [listed], before_webhook)
        [number] = await _health(engine, WABA)
        assert number["phone_number_id"] == "100000000000077"
        assert number["messaging_limit"] == "TIER_250"
        assert (number["quality_rating"], number["throughput_level"]) == ("YELLOW", "HIGH")
        assert await _requested(engine, WABA) is not None
        assert await store.due(engine, [WABA], every_seconds=3600) == [WABA]

        # A read that began after it: Meta's list is the newer word.
        await store.numbers_synced(engine, WABA, [listed], await meta_reads.database_now(engine))
        [number] = await _health(engine, WABA)
        assert number["messaging_limit"] == "TIER_2K"
        assert await _requested(engine, WABA) is None
        assert await store.due(engine, [WABA], every_seconds=3600) == []
        assert await store.due(engine, [WABA], every_seconds=0) == [WABA]
    finally:
        await inbox.stop()
        await engine.dispose()


async def test_a_number_id_moves_with_its_number(stack: Stack) -> None:
    database_url = await asyncio.to_thread(stack.new_database, "health-move", migrated=True)
    engine = make_engine(database_url, pool_size=1)
    try:
        start = await meta_reads.database_now(engine) - timedelta(seconds=1)
        old = store.NumberState("100000000000078", "15550000001", "GREEN", None, "STANDARD")
        await store.numbers_synced(engine, WABA, [old], start)
        moved = store.NumberState("100000000000078", "15550000002", "GREEN", None, "STANDARD")
        await store.numbers_synced(engine, WABA, [moved], start)
        rows = await _health(engine, WABA)
        assert [r["phone_number_id"] for r in rows] == ["100000000000078"]
    finally:
        await engine.dispose()


def test_a_category_change_asks_for_the_catalogue_s_next_sync() -> None:
    value = {
        "message_template_id": 12,
        "message_template_name": "spring_sale",
        "message_template_language": "es_ES",
        "previous_category": "MARKETING",
        "new_category": "UTILITY",
    }
    [change] = translate(body("template_category_update", value)).templates
    assert (change.name, change.language, change.status) == ("spring_sale", "es_ES", None)


async def test_reports_of_other_accounts_and_older_reports_change_nothing(stack: Stack) -> None:
    database_url = await asyncio.to_thread(stack.new_database, "health-order", migrated=True)
    engine = make_engine(database_url, pool_size=1)
    inbox = WebhookInbox(engine, wabas=frozenset({WABA}))
    try:

        def at(value: dict[str, Any], time: int, waba: str = WABA) -> bytes:
            sent = body("account_update", value, waba)
            sent["entry"][0]["time"] = time
            return json.dumps(sent).encode()

        lifted = {"event": "ACCOUNT_RESTRICTION", "restriction_info": []}
        await inbox.store(at(lifted, 1_800_000_100))
        await inbox.store(at(RESTRICTED, 1_800_000_000))  # Meta's retry of an older one
        await inbox.store(at(RESTRICTED, 1_800_000_200, waba="999"))  # not ours
        rows = await _health(engine, WABA)
        assert [r["restrictions"] for r in rows] == [[]]
        assert await _health(engine, "999") == []
        await inbox.store(at(RESTRICTED, 1_800_000_300))  # a newer one applies
        assert len((await _health(engine, WABA))[0]["restrictions"]) == 2
    finally:
        await inbox.stop()
        await engine.dispose()
