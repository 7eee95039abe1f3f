"""Erasure in the ledger: personal fields are sealed in the event store, an erased person's
events read back redacted, events stored before sealing are redacted in place, and the
opt-out survives as a pseudonym that a rebuild reproduces."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack
from tests.ledger.test_recipient_identity import inbound

from ledger import sealing, store
from ledger.optouts import DEFAULT_KEYWORDS
from ledger.rebuild import compare
from ledger.tables import LIVE
from notif_core import events as ev
from notif_core.db import make_engine
from notif_core.erasure import deployment_pseudonym
from notif_core.identity import recipient_key
from notif_core.ids import new_id

SENDER = "100000000000001"
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _unique_number() -> str:
    return f"+1415{new_id().int % 10**7:07d}"


def accepted(to: str) -> ev.NotificationAccepted:
    return ev.NotificationAccepted(
        producer="test",
        notification_id=new_id(),
        tenant_id=new_id(),
        occurred_at=T0,
        payload=ev.AcceptedPayload(
            to=to,
            message={"type": "text", "text": {"body": f"hello {to}"}},
            phone_number_id=SENDER,
            metadata={"phone": to},
        ),
    )


def erasure_of(who: str) -> ev.RecipientErasureRequested:
    return ev.RecipientErasureRequested(
        producer="test", payload=ev.ErasureRequestedPayload(recipient=who)
    )


async def _bodies(engine: AsyncEngine, ids: list[str]) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT body FROM ledger.events WHERE event_id::text = ANY(:ids) ORDER BY seq"),
            {"ids": ids},
        )
        return [r.body for r in rows]


@pytest.fixture(scope="module")
async def engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """A ledger database of this module's own: ``compare`` rebuilds every event, and the
    shared one holds every other test's too."""
    url = await asyncio.to_thread(stack.new_database, "ledger_erasure", migrated=True)
    engine = make_engine(url, pool_size=2, application_name="tests")
    yield engine
    await engine.dispose()


async def test_sealed_then_erased_then_rebuilt(engine: AsyncEngine) -> None:
    person = _unique_number()
    sent, wrote = accepted(person), inbound("STOP", T0, person.lstrip("+"))
    async with engine.begin() as conn:
        await store.append(conn, [sent, wrote])
    stored = await _bodies(engine, [str(sent.event_id), str(wrote.event_id)])
    assert person.lstrip("+") not in json.dumps(stored)  # sealed at rest
    async with engine.connect() as conn:
        opened = await sealing.opened(conn, stored)
    assert opened == [sent, wrote]  # and read back whole while the key exists

    async with engine.begin() as conn:
        await store.append(conn, [erasure_of(person)])
    async with engine.connect() as conn:
        back = await sealing.opened(conn, await _bodies(engine, [str(sent.event_id)]))
        gone = await conn.execute(
            text(
                "SELECT (SELECT count(*) FROM ledger.suppressions WHERE recipient = :k), "
                "(SELECT count(*) FROM ledger.suppressions WHERE recipient = :p), "
                "(SELECT recipient FROM ledger.notifications WHERE id = :n), "
                "(SELECT recipient_country FROM ledger.notifications WHERE id = :n)"
            ),
            {
                "k": recipient_key(person),
                "p": deployment_pseudonym(recipient_key(person)),
                "n": sent.notification_id,
            },
        )
        assert tuple(gone.one()) == (0, 1, None, "US")
    erased = back[0]
    assert isinstance(erased, ev.NotificationAccepted)
    assert (erased.payload.to, erased.payload.metadata) == ("erased:US", None)
    differences = await compare(engine)
    assert differences == dict.fromkeys(differences, 0)


async def test_events_stored_before_sealing_are_redacted_in_place(engine: AsyncEngine) -> None:
    person = _unique_number()
    legacy = inbound("STOP", T0, person.lstrip("+"))
    async with engine.begin() as conn:  # written as the ledger wrote bodies before sealing
        await conn.execute(
            text(
                "INSERT INTO ledger.events (event_id, type, occurred_at, body) "
                "VALUES (:id, :type, :at, CAST(:body AS jsonb))"
            ),
            {
                "id": legacy.event_id,
                "type": legacy.type,
                "at": T0,
                "body": legacy.model_dump_json(by_alias=True),
            },
        )
        await store.project(conn, [(0, legacy)], DEFAULT_KEYWORDS, LIVE)
        await store.append(conn, [erasure_of(person)])
    (body,) = await _bodies(engine, [str(legacy.event_id)])
    assert person.lstrip("+") not in json.dumps(body)
    async with engine.connect() as conn:
        suppressed = await conn.execute(
            text("SELECT count(*) FROM ledger.suppressions WHERE recipient = :p"),
            {"p": deployment_pseudonym(recipient_key(person))},
        )
        assert suppressed.scalar_one() == 1
    with pytest.raises(DBAPIError, match="append-only"):  # only erasure's transaction may
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE ledger.events SET body = body WHERE event_id = :id"),
                {"id": legacy.event_id},
            )


async def test_erasing_a_person_reaches_the_number_they_changed_from(
    engine: AsyncEngine,
) -> None:
    """STOP from the old number, a number change, then erasure by the new number: nothing
    of the old number stays, and a rebuild does not write it back."""
    old, new = _unique_number(), _unique_number()
    change = ev.RecipientNumberChanged(
        producer="test",
        occurred_at=T0,
        payload=ev.NumberChangedPayload(phone_number_id=SENDER, old=old, new=new, changed_at=T0),
    )
    async with engine.begin() as conn:
        await store.append(conn, [inbound("STOP", T0, old.lstrip("+"))])
        await store.append(conn, [change])
        await store.append(conn, [erasure_of(new)])
    async with engine.connect() as conn:
        left = await conn.execute(
            text(
                "SELECT (SELECT count(*) FROM ledger.suppressions WHERE recipient IN (:o, :n)) "
                "+ (SELECT count(*) FROM ledger.windows WHERE recipient IN (:o, :n)) "
                "+ (SELECT count(*) FROM ledger.recipient_aliases WHERE :o IN (alias, key))"
            ),
            {"o": old, "n": new},
        )
        assert left.scalar_one() == 0
    differences = await compare(engine)
    assert differences == dict.fromkeys(differences, 0)
