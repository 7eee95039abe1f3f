"""Windows and the suppression list: keywords, opt-in, Meta's 131050, and the dispatcher
honouring them end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack, recipient
from tests.e2e.api import hello, open_window, post, sandbox_sends, wait_status
from tests.e2e.services import Services

from ledger import store
from ledger.optouts import Keywords
from notif_core import events as ev
from notif_core.db import libpq_url
from notif_core.ids import new_id

SENDER = "100000000000001"
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message", "verdict"),
    [
        ("STOP", "opt_out"),
        (" stop! ", "opt_out"),
        ("Baja", "opt_out"),
        ("ARRÊT", "opt_out"),
        ("ARRE\u0302T", "opt_out"),  # the same word, its accent a combining mark
        ("\uff33\uff34\uff2f\uff30", "opt_out"),  # full-width STOP
        ("STOP 🛑", "opt_out"),
        ("start", "opt_in"),
        ("please stop sending", None),
        ("", None),
        (None, None),
    ],
)
def test_keywords(message: str | None, verdict: str | None) -> None:
    assert Keywords().classify(message) == verdict


def test_keywords_are_configurable() -> None:
    custom = Keywords.from_lists("HALT, nope", "GO")
    assert custom.classify("halt") == "opt_out"
    assert custom.classify("stop") is None
    assert custom.classify("Go.") == "opt_in"


def inbound(who: str, words: str, at: datetime) -> ev.MessageInboundReceived:
    return ev.MessageInboundReceived(
        producer="test",
        occurred_at=at,
        payload=ev.InboundPayload(
            wamid=f"wamid.{new_id()}",
            from_=who,
            phone_number_id=SENDER,
            type="text",
            text=words,
            received_at=at,
        ),
    )


async def suppressed(engine: AsyncEngine, who: str) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT scope, source FROM ledger.suppressions WHERE recipient = :r "
                "AND since IS NOT NULL AND (lifted_at IS NULL OR since > lifted_at) ORDER BY scope"
            ),
            {"r": who},
        )
        return [(r.scope, r.source) for r in rows]


async def test_stop_then_start_by_keyword(engine: AsyncEngine) -> None:
    who = recipient()
    async with engine.begin() as conn:
        await store.append(conn, [inbound(who, "STOP", T0)])
    assert await suppressed(engine, who) == [("all", "keyword")]
    async with engine.begin() as conn:  # an older START arriving late changes nothing
        await store.append(conn, [inbound(who, "START", T0 - timedelta(minutes=1))])
    assert await suppressed(engine, who) == [("all", "keyword")]
    async with engine.begin() as conn:
        await store.append(conn, [inbound(who, "start", T0 + timedelta(minutes=1))])
    assert await suppressed(engine, who) == []


async def test_meta_131050_suppresses_marketing_only(engine: AsyncEngine) -> None:
    who, nid = recipient(), new_id()
    accepted = ev.NotificationAccepted(
        producer="test",
        notification_id=nid,
        tenant_id=new_id(),
        occurred_at=T0,
        payload=ev.AcceptedPayload(to=who, phone_number_id=SENDER, message={"type": "template"}),
    )
    failed = ev.NotificationFailed(
        producer="test",
        notification_id=nid,
        occurred_at=T0 + timedelta(seconds=1),
        payload=ev.FailedPayload(error=ev.MetaError(code=131050, title="opted out")),
    )
    async with engine.begin() as conn:
        await store.append(conn, [accepted, failed])
    assert await suppressed(engine, who) == [("marketing", "meta_error")]


@pytest.mark.e2e
def test_a_user_who_wrote_stop_gets_nothing_more(
    stack: Stack, services: Services, api_key: str
) -> None:
    who = recipient()
    open_window(services, stack.database_url, who)
    httpx.post(services.url("sandbox") + "/_sandbox/inbound", json={"from": who, "text": "STOP"})
    import time

    import psycopg

    dsn = libpq_url(stack.database_url)
    deadline = time.monotonic() + 10
    with psycopg.connect(dsn) as conn:
        while not conn.execute(
            "SELECT 1 FROM ledger.suppressions WHERE recipient = %s AND since IS NOT NULL",
            (who,),
        ).fetchone():
            assert time.monotonic() < deadline, "STOP was not recorded"
            time.sleep(0.05)
    nid = post(services, api_key, hello(who)).json()["id"]
    view = wait_status(services, api_key, nid, "suppressed", timeout=15)
    assert view["history"][-1]["type"] == "notification.suppressed"
    assert sandbox_sends(services, nid) == []
