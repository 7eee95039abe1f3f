"""Erasure of a person on the whole stack (GDPR Art. 17): after ``DELETE
/v1/recipients/{number}``, no row of any service and no log line holds the number in clear,
the person's opt-out still suppresses a later send, the event store kept its events, and a
rebuild of the ledger equals the live read models."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import psycopg
import pytest

from ledger.rebuild import compare
from notif_core.db import libpq_url, make_engine
from notif_core.identity import recipient_key, spellings
from notif_core.ids import new_id
from tests.conftest import Stack, recipient
from tests.e2e.api import (
    get,
    open_window,
    post,
    sandbox_sends,
    wait_queues_empty,
    wait_status,
)
from tests.e2e.services import Services

pytestmark = pytest.mark.e2e
SCHEMAS = ("ingest", "dispatcher", "ledger")


def _mentions(dsn: str, needles: list[str]) -> dict[str, int]:
    """Rows of every table of the three schemas whose text (bytea as hex) holds a needle."""
    found: dict[str, int] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE'",
            (list(SCHEMAS),),
        ).fetchall()
        for schema, table in tables:
            count = conn.execute(
                f'SELECT count(*) FROM "{schema}"."{table}" AS t '  # noqa: S608
                "WHERE EXISTS (SELECT 1 FROM unnest(%s::text[]) AS n "
                "WHERE strpos(t::text, n) > 0)",
                (needles,),
            ).fetchone()
            if count and count[0]:
                found[f"{schema}.{table}"] = int(count[0])
    return found


def _erased(dsn: str, within: float) -> None:
    deadline = time.monotonic() + within
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if conn.execute(
                "SELECT 1 FROM ledger.events WHERE type = 'recipient.erased'"
            ).fetchone():
                return
            time.sleep(0.1)
    raise TimeoutError("the ledger did not carry out the erasure")


def _erase(services: Services, key: str, who: str) -> httpx.Response:
    return httpx.delete(
        services.url("ingest") + f"/v1/recipients/{who}", headers={"X-API-Key": key}
    )


def test_an_erased_person_leaves_no_trace_but_their_opt_out(
    stack: Stack, services: Services, api_key: str
) -> None:
    person = recipient()
    dsn = libpq_url(stack.database_url)
    digits = sorted({f.lstrip("+") for f in spellings(recipient_key(person))})
    needles = digits + [d.encode().hex() for d in digits]

    # They write, get an answer carrying their number in metadata, then write STOP.
    open_window(services, stack.database_url, person)
    text: dict[str, Any] = {
        "to": person,
        "text": {"body": "Your parcel is on its way"},
        "metadata": {"customer_phone": person},
        "callback_url": "http://127.0.0.1:9/hooks",
    }
    answered = httpx.post(
        services.url("ingest") + "/v1/notifications",
        json=text,
        headers={"X-API-Key": api_key, "Idempotency-Key": f"erasure-{new_id()}"},
    )
    assert answered.status_code == 202, answered.text
    nid = answered.json()["id"]
    wait_status(services, api_key, nid, "read", timeout=30)
    stop = httpx.post(
        services.url("sandbox") + "/_sandbox/inbound", json={"from": person, "text": "STOP"}
    )
    assert stop.status_code == 200
    asyncio.run(wait_queues_empty(["events", "dispatch", "dispatch_high"], within=30))
    assert _mentions(dsn, needles)  # the check sees them before erasure
    with psycopg.connect(dsn, autocommit=True) as conn:
        events_before = conn.execute("SELECT count(*) FROM ledger.events").fetchone()

    assert _erase(services, api_key, "+1415000000000").status_code in {404, 422}
    erased = _erase(services, api_key, person)
    assert erased.status_code == 202, erased.text
    assert erased.json()["notifications"] >= 1
    _erased(dsn, within=30)
    asyncio.run(wait_queues_empty(["events"], within=30))

    assert _mentions(dsn, needles) == {}
    logged = [
        line
        for path in sorted(services.log_dir.glob("*.log"))
        for line in path.read_text(errors="replace").splitlines()
        if any(d in line for d in digits)
    ]
    assert logged == []
    view = get(services, api_key, nid)
    assert (view["status"], view["to"], view["metadata"]) == ("read", "erased", None)
    with psycopg.connect(dsn, autocommit=True) as conn:
        events_after = conn.execute("SELECT count(*) FROM ledger.events").fetchone()
    assert events_before is not None
    assert events_after is not None
    assert events_after[0] == events_before[0] + 1  # append-only: + recipient.erased

    # Their STOP outlives them: a marketing template to the number is suppressed.
    template = {
        "to": person,
        "template": {"name": "hello_world", "language": "en_US", "category": "marketing"},
    }
    later = post(services, api_key, template)
    assert later.status_code == 202, later.text
    wait_status(services, api_key, later.json()["id"], "suppressed", timeout=30)
    assert sandbox_sends(services, later.json()["id"]) == []

    asyncio.run(wait_queues_empty(["events", "dispatch", "dispatch_high"], within=30))
    engine = make_engine(stack.database_url, pool_size=1)
    try:
        differences = asyncio.run(compare(engine))
    finally:
        asyncio.run(engine.dispose())
    assert differences == dict.fromkeys(differences, 0)


def test_erasure_reaches_every_form_of_a_username_user(
    stack: Stack, services: Services, api_key: str
) -> None:
    """A username user wrote with their number and their BSUID and was answered at both;
    erasing them by the number leaves neither form anywhere. Someone who only wrote in can
    be erased too, and asking again answers 202 again."""
    number, lone = recipient(), recipient()
    bsuid = f"US.{int(number.lstrip('+')) * 7919}"
    dsn = libpq_url(stack.database_url)
    sandbox = services.url("sandbox") + "/_sandbox/inbound"
    wrote = httpx.post(sandbox, json={"from": number, "user_id": bsuid, "text": "hi"})
    assert wrote.status_code == 200, wrote.text
    assert httpx.post(sandbox, json={"from": lone, "text": "hi"}).status_code == 200
    open_window(services, stack.database_url, number)
    for to in (number, bsuid):
        sent = post(services, api_key, {"to": to, "text": {"body": "Your order shipped"}})
        assert sent.status_code == 202, sent.text
        wait_status(services, api_key, sent.json()["id"], "read", timeout=30)
    open_window(services, stack.database_url, lone)
    asyncio.run(wait_queues_empty(["events", "dispatch", "dispatch_high"], within=30))

    digits = [number.lstrip("+"), lone.lstrip("+")]
    needles = digits + [d.encode().hex() for d in digits] + [bsuid, bsuid.encode().hex()]
    assert _erase(services, api_key, number).status_code == 202
    assert _erase(services, api_key, lone).status_code == 202  # only ever wrote in
    assert _erase(services, api_key, lone).status_code == 202  # asked again
    deadline = time.monotonic() + 30
    while _mentions(dsn, needles) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _mentions(dsn, needles) == {}
