"""Ingest's inbound marks as the dispatcher reads them, through ``ingest.inbound_mark_v1``:
written with the webhook, keyed by ``recipient_key`` of every identity a message names,
moved only forward, purged after 25 h."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from tests.conftest import Stack
from tests.ingest.test_meta_webhooks import envelope

from dispatcher.recipients import PostgresRecipientPolicy
from ingest.webhooks import inbound_marks
from ingest.webhooks.webhook_inbox import WebhookInbox
from notif_core.db import make_engine

AT = 1764244800


def inbound(sender: str | None, at: int, **names: str) -> bytes:
    message = {"id": f"wamid.{at}{sender}", "timestamp": str(at), "type": "text"} | names
    if sender is not None:
        message["from"] = sender
    return json.dumps(envelope({"messages": [message | {"text": {"body": "hi"}}]})).encode()


async def test_marks_are_read_through_the_contract(stack: Stack) -> None:
    url = await asyncio.to_thread(stack.new_database, "marks", migrated=True)
    engine = make_engine(url, pool_size=1)
    inbox = WebhookInbox(engine)
    policy = PostgresRecipientPolicy(engine)

    none = await policy.facts("PN", "+5215587654321", marketing=False)
    assert none.marked_inbound_at is None
    assert not none.ledger_behind()

    # A Mexican mobile's id and a username's BSUID: both keys marked, the dialled form found.
    await inbox.store(inbound("5215587654321", AT, user_id="MX.1234567890"))
    facts = await policy.facts("PN", "+525587654321", marketing=False)
    assert facts.marked_inbound_at == datetime.fromtimestamp(AT, UTC)
    assert facts.ledger_behind()  # the ledger has projected nothing in this database
    assert facts.mark_age_seconds is not None
    assert 0 <= facts.mark_age_seconds < 5
    assert facts.window_open(datetime.fromtimestamp(AT, UTC) + timedelta(hours=23))
    assert not facts.window_open(datetime.fromtimestamp(AT, UTC) + timedelta(hours=24))
    bsuid = await policy.facts("PN", "MX.1234567890", marketing=False)
    assert bsuid.marked_inbound_at == facts.marked_inbound_at
    assert (await policy.facts("OTHER", "+525587654321", marketing=False)).marked_inbound_at is None

    # An older message redelivered late does not move the mark back.
    await inbox.store(inbound("5215587654321", AT - 60))
    again = await policy.facts("PN", "+525587654321", marketing=False)
    assert again.marked_inbound_at == facts.marked_inbound_at

    # Once the ledger has projected it, the ledger is not behind.
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO ledger.windows (phone_number_id, recipient, last_inbound_at) "
                "VALUES ('PN', '+525587654321', to_timestamp(:at))"
            ),
            {"at": AT},
        )
    assert not (await policy.facts("PN", "+525587654321", marketing=False)).ledger_behind()

    # Purge: marks that last moved more than 25 h ago go, others stay.
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE ingest.inbound_marks SET marked_at = now() - interval '26 hours' "
                "WHERE recipient_key = 'MX.1234567890'"
            )
        )
    assert await inbound_marks.purge(engine) == 1
    assert (await policy.facts("PN", "MX.1234567890", marketing=False)).marked_inbound_at is None
    kept = await policy.facts("PN", "+525587654321", marketing=False)
    assert kept.marked_inbound_at is not None
    await engine.dispose()


async def test_a_bsuid_only_message_moves_the_mark_of_its_number(stack: Stack) -> None:
    """A username user may stop sharing the number: their BSUID-only STOP must hold sends to
    the number as soon as ingest acknowledges it, whether the pairing is fresh (ingest's
    mark remembers the BSUID) or known only to the ledger (the mark has been purged)."""
    url = await asyncio.to_thread(stack.new_database, "marks_bsuid", migrated=True)
    engine = make_engine(url, pool_size=1)
    inbox = WebhookInbox(engine)
    policy = PostgresRecipientPolicy(engine)

    await inbox.store(inbound("14155550188", AT, user_id="US.1001"))
    await inbox.store(inbound(None, AT + 30, user_id="US.1001"))
    fresh = await policy.facts("PN", "+14155550188", marketing=True)
    assert fresh.marked_inbound_at == datetime.fromtimestamp(AT + 30, UTC)
    assert (await policy.facts("PN", "+14155550199", marketing=True)).marked_inbound_at is None

    # An old pairing: the number's mark is gone, the ledger's alias remains.
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM ingest.inbound_marks"))
        await conn.execute(
            text(
                "INSERT INTO ledger.recipient_aliases (alias, key, source, seen_at) "
                "VALUES ('US.2002', '+14155550177', 'inbound', now() - interval '3 days')"
            )
        )
    await inbox.store(inbound(None, AT + 60, user_id="US.2002"))
    aliased = await policy.facts("PN", "+14155550177", marketing=True)
    assert aliased.marked_inbound_at == datetime.fromtimestamp(AT + 60, UTC)
    assert aliased.ledger_behind()
    await engine.dispose()
