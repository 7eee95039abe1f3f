"""Ingest's inbound marks as the dispatcher reads them, through ``ingest.inbound_mark_v1``
and ``ingest.inbound_messages_v1``: written with the webhook, keyed by ``recipient_key`` of
every identity a message names, moved only forward, purged after 25 h; and the ledger's
``stored_events_v1``, which tells which acknowledged messages it has projected."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack
from tests.ingest.test_meta_webhooks import envelope

from dispatcher.recipients import PostgresRecipientPolicy
from ingest.webhooks import inbound_marks
from ingest.webhooks.meta_webhooks import translate
from ingest.webhooks.webhook_inbox import WebhookInbox
from ledger import store
from notif_core.db import make_engine

AT = 1764244800


def inbound(sender: str | None, at: int, body: str = "hi", **names: str) -> bytes:
    wamid = f"wamid.{at}{sender}{''.join(names.values())}{body}"
    message = {"id": wamid, "timestamp": str(at), "type": "text"} | names
    if sender is not None:
        message["from"] = sender
    return json.dumps(envelope({"messages": [message | {"text": {"body": body}}]})).encode()


async def ledger_projects(engine: AsyncEngine, raw: bytes) -> None:
    """The ledger's consumer, given the events of one webhook body."""
    async with engine.begin() as conn:
        await store.append(conn, translate(json.loads(raw)).events)


@pytest.mark.parametrize("username", [False, True], ids=["number", "username"])
async def test_a_stop_of_the_same_second_as_a_projected_hi_is_waited_for(
    stack: Stack, username: bool
) -> None:
    """Meta's timestamps are whole seconds: once the ledger has projected a customer's "hi",
    its window shows the same time as ingest's mark of the "STOP" sent in that second. The
    dispatcher must still see the ledger behind until the STOP is projected, and then see
    the opt-out. A username user's STOP may name only their BSUID."""
    url = await asyncio.to_thread(stack.new_database, f"marks_second_{username}", migrated=True)
    engine = make_engine(url, pool_size=1)
    inbox = WebhookInbox(engine)
    policy = PostgresRecipientPolicy(engine)
    number = "+14155550166"
    hi = inbound(number.lstrip("+"), AT, "hi", from_user_id="US.3003")
    stop = inbound(None if username else number.lstrip("+"), AT, "STOP", from_user_id="US.3003")
    for raw in (hi, stop):
        await inbox.store(raw)
    assert (await policy.facts("PN", number, marketing=True)).ledger_behind()

    await ledger_projects(engine, hi)
    after_hi = await policy.facts("PN", number, marketing=True)
    assert after_hi.projected_inbound_at == after_hi.marked_inbound_at  # times alone: settled
    assert after_hi.ledger_behind()
    assert not after_hi.suppressed
    behind_for = after_hi.behind_for()
    assert behind_for is not None
    assert 0 <= behind_for < 5

    await inbox.store(stop)  # Meta delivers it again: nothing changes
    await ledger_projects(engine, stop)
    settled = await policy.facts("PN", number, marketing=True)
    assert not settled.ledger_behind()
    assert settled.suppressed

    # Recorded acknowledgements are purged with the marks.
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE ingest.inbound_messages SET marked_at = now() - interval '26 hours'")
        )
    # Each message under the number and the BSUID (a BSUID-only STOP under the number it
    # came with before), once each although the STOP came twice.
    assert await inbound_marks.purge(engine) == 4
    await engine.dispose()


async def test_marks_are_read_through_the_contract(stack: Stack) -> None:
    url = await asyncio.to_thread(stack.new_database, "marks", migrated=True)
    engine = make_engine(url, pool_size=1)
    inbox = WebhookInbox(engine)
    policy = PostgresRecipientPolicy(engine)

    none = await policy.facts("PN", "+5215587654321", marketing=False)
    assert none.marked_inbound_at is None
    assert not none.ledger_behind()

    # A Mexican mobile's id and a username's BSUID: both keys marked, the dialled form found.
    first = inbound("5215587654321", AT, user_id="MX.1234567890")
    await inbox.store(first)
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
    late = inbound("5215587654321", AT - 60)
    await inbox.store(late)
    again = await policy.facts("PN", "+525587654321", marketing=False)
    assert again.marked_inbound_at == facts.marked_inbound_at

    # Once the ledger has projected both, the ledger is not behind; while one is missing,
    # even the older one, it is.
    await ledger_projects(engine, first)
    assert (await policy.facts("PN", "+525587654321", marketing=False)).ledger_behind()
    await ledger_projects(engine, late)
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
