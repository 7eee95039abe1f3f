"""Inbound messages at the door: each kind's content in its documented shape, the owner
(the tenant holding the number) and its callback URL resolved in the webhook's
transaction, stored once however often Meta delivers it, and nobody's when no tenant holds
the number."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack

from ingest.account.keys import ensure_tenant
from ingest.inbound import owners, routes
from ingest.inbound.content import content, replied_to
from ingest.webhooks.webhook_inbox import WebhookInbox
from notif_core.db import make_engine

HELD, UNHELD = "100000000000011", "100000000000012"


@pytest.mark.parametrize(
    ("message", "kind", "expected"),
    [
        ({"type": "text", "text": {"body": "YES"}}, "text", {"body": "YES"}),
        (
            {"type": "button", "button": {"payload": "CONFIRM", "text": "Confirm", "x": 1}},
            "button",
            {"payload": "CONFIRM", "text": "Confirm"},
        ),
        (
            {
                "type": "interactive",
                "interactive": {"type": "list_reply", "list_reply": {"id": "r1", "title": "Row"}},
            },
            "interactive",
            {"type": "list_reply", "id": "r1", "title": "Row"},
        ),
        (
            {
                "type": "image",
                "image": {"id": "MID", "mime_type": "image/jpeg", "sha256": "h", "caption": "box"},
            },
            "image",
            {"media_id": "MID", "mime_type": "image/jpeg", "sha256": "h", "caption": "box"},
        ),
        (
            {"type": "audio", "audio": {"id": "AID", "mime_type": "audio/ogg", "voice": True}},
            "audio",
            {"media_id": "AID", "mime_type": "audio/ogg", "voice": True},
        ),
        (
            {
                "type": "location",
                "location": {"latitude": 51.5, "longitude": "-0.12", "name": "Hub"},
            },
            "location",
            {"latitude": 51.5, "longitude": -0.12, "name": "Hub"},
        ),
        (
            {
                "type": "contacts",
                "contacts": [
                    {"name": {"formatted_name": "Ada L"}, "phones": [{"phone": "+1 415", "x": 2}]}
                ],
            },
            "contacts",
            {
                "contacts": [
                    {
                        "name": {"formatted_name": "Ada L"},
                        "phones": [{"phone": "+1 415"}],
                        "emails": [],
                    }
                ]
            },
        ),
        (
            {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👍"}},
            "reaction",
            {"message_id": "wamid.X", "emoji": "👍"},
        ),
        (
            {"type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]},
            "unsupported",
            {"errors": [{"code": 131051, "title": "Message type unknown"}]},
        ),
        (
            {"type": "order", "order": {"catalog_id": "1"}},
            "unsupported",
            {"errors": [], "original_type": "order"},
        ),
        (
            {"type": "unsupported", "unsupported": {"type": "poll"}, "errors": []},
            "unsupported",
            {"errors": [], "original_type": "poll"},
        ),
    ],
)
def test_each_kind_has_its_documented_shape(
    message: dict[str, Any], kind: str, expected: dict[str, Any]
) -> None:
    assert content(message) == (kind, expected)


def test_the_message_answered_is_the_context_or_the_reacted_one() -> None:
    reply = {"type": "text", "text": {"body": "ok"}, "context": {"id": "wamid.OUT"}}
    assert replied_to(reply, *content(reply)) == "wamid.OUT"
    reaction = {"type": "reaction", "reaction": {"message_id": "wamid.R", "emoji": "❤"}}
    assert replied_to(reaction, *content(reaction)) == "wamid.R"
    assert replied_to({"type": "text", "text": {"body": "hi"}}, "text", {}) is None


def webhook(number: str, wamid: str) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": number},
        "contacts": [{"profile": {"name": "Ada"}, "wa_id": "14155550101"}],
        "messages": [
            {
                "from": "14155550101",
                "id": wamid,
                "timestamp": "1764244800",
                "type": "button",
                "button": {"payload": "CONFIRM", "text": "Confirm"},
                "context": {"from": "15550001111", "id": "wamid.OUT"},
            }
        ],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "200000000000001", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


async def _stored(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT tenant_id, phone_number_id, kind, content, context_wamid, profile_name FROM ingest.inbound ORDER BY phone_number_id"
            )
        )
        return [dict(r._mapping) for r in rows]


async def _queued(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT body::jsonb AS e FROM ingest.outbox "
                "WHERE body::jsonb->>'type' = 'message.inbound_received' ORDER BY id"
            )
        )
        return [r.e for r in rows]


async def test_the_owner_and_its_url_come_with_the_message_once(stack: Stack) -> None:
    database_url = await asyncio.to_thread(stack.new_database, "inbound", migrated=True)
    engine = make_engine(database_url, pool_size=1)
    inbox = WebhookInbox(engine)
    try:
        async with engine.begin() as conn:
            tenant: UUID = await ensure_tenant(conn, "shop", phone_number_ids=[HELD])
            await routes.set_url(conn, tenant, "https://shop.example/all", None)
            await routes.set_url(conn, tenant, "https://shop.example/this", HELD)
        for _ in range(2):  # Meta delivered it twice
            await inbox.store(webhook(HELD, "wamid.A"))
        await inbox.store(webhook(UNHELD, "wamid.B"))
        stored = await _stored(engine)
        assert [(r["tenant_id"], r["phone_number_id"]) for r in stored] == [
            (tenant, HELD),
            (None, UNHELD),
        ]
        assert stored[0]["content"] == {"payload": "CONFIRM", "text": "Confirm"}
        assert (stored[0]["context_wamid"], stored[0]["profile_name"]) == ("wamid.OUT", "Ada")
        queued = await _queued(engine)
        assert len(queued) == 2  # the redelivery queued nothing more
        owned = next(e for e in queued if e["payload"]["phone_number_id"] == HELD)
        assert owned["tenant_id"] == str(tenant)
        assert owned["payload"]["callback_url"] == "https://shop.example/this"
        nobody = next(e for e in queued if e["payload"]["phone_number_id"] == UNHELD)
        assert nobody["tenant_id"] is None
        assert nobody["payload"]["callback_url"] is None
    finally:
        await inbox.stop()
        await engine.dispose()


async def test_one_business_deployments_give_the_default_number_to_its_tenant(
    stack: Stack,
) -> None:
    database_url = await asyncio.to_thread(stack.new_database, "inbound-one", migrated=True)
    engine = make_engine(database_url, pool_size=1)
    inbox = WebhookInbox(engine, fallback=UNHELD)
    try:
        async with engine.begin() as conn:
            only = await ensure_tenant(conn, "the-business")
            await routes.set_url(conn, only, "https://biz.example/in", None)
        await inbox.store(webhook(UNHELD, "wamid.C"))
        async with engine.begin() as conn:
            await ensure_tenant(conn, "a-second-one")  # now it would be ambiguous
        await inbox.store(webhook(UNHELD, "wamid.D"))
        owners = [r["tenant_id"] for r in await _stored(engine)]
        assert sorted(map(str, owners)) == sorted([str(only), "None"])
    finally:
        await inbox.stop()
        await engine.dispose()


async def test_inbound_messages_go_after_their_retention(stack: Stack) -> None:
    database_url = await asyncio.to_thread(stack.new_database, "inbound-age", migrated=True)
    engine = make_engine(database_url, pool_size=1)
    inbox = WebhookInbox(engine)
    try:
        await inbox.store(webhook(UNHELD, "wamid.OLD"))
        await inbox.store(webhook(UNHELD, "wamid.NEW"))
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE ingest.inbound SET stored_at = now() - interval '31 days' "
                    "WHERE wamid = 'wamid.OLD'"
                )
            )
        assert await owners.purge(engine, days=30) == 1
        async with engine.connect() as conn:
            left = (await conn.execute(text("SELECT wamid FROM ingest.inbound"))).scalars()
            assert list(left) == ["wamid.NEW"]
    finally:
        await inbox.stop()
        await engine.dispose()


@pytest.mark.parametrize(
    ("sender", "user_id", "kept"),
    [
        ("14155550101", None, ("+14155550101", None)),
        ("not-a-number", None, None),  # no one to reply to: untranslated
        ("not-a-number", "US.13491208655302741918", (None, "US.13491208655302741918")),
        ("14155550101", "US.\ufffd\ufffd", ("+14155550101", None)),  # a NUL made printable
    ],
)
def test_the_writer_is_a_whatsapp_id_or_a_bsuid_or_no_one(
    sender: str, user_id: str | None, kept: tuple[str | None, str | None] | None
) -> None:
    from ingest.webhooks.meta_webhooks import Untranslatable, inbound_event

    message: dict[str, Any] = {
        "from": sender,
        "id": "wamid.W",
        "timestamp": "1764244800",
        "type": "text",
        "text": {"body": "hi"},
    }
    if user_id is not None:
        message["from_user_id"] = user_id
    if kept is None:
        with pytest.raises(Untranslatable):
            inbound_event(message, HELD)
        return
    event = inbound_event(message, HELD)
    assert event is not None
    assert (event.payload.from_, event.payload.user_id) == kept  # type: ignore[union-attr]
