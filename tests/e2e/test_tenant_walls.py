"""Tenant walls: a sender belongs to one tenant, and everything per tenant is the tenant's.

Tenant A is the dev tenant (it holds the sandbox's sender); tenant B holds a number of its
own; tenant C holds none. B and C go through every tenant-facing endpoint against A's
notifications, number and recipients: each attempt is refused (404 or 422) or sees nothing
of A's, and A's state is the same before and after. Then the phone_number_id rule at the
door and in the dispatcher, the single-tenant switch, number assignment, and Meta's 131050
kept to the number that sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import itertools
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import ledger
from dispatcher.cloud_api import INVALID_SENDER, HttpxCloudApi
from dispatcher.recipients import PostgresRecipientPolicy
from ingest.account.keys import (
    SenderRefused,
    add_key,
    authenticate,
    bootstrap_keys,
    ensure_tenant,
    generate_key,
)
from ingest.api.schemas import NotificationRequest
from ingest.main import create_app
from ingest.notifications import accept
from ingest.settings import IngestSettings
from ledger import store
from notif_core import events as ev
from notif_core.events import dump_event
from notif_core.ids import new_id
from notif_core.settings import CoreSettings
from tests.conftest import Stack, recipient
from tests.e2e.api import get, hello, sandbox_sends, wait_queues_empty, wait_status
from tests.e2e.services import Services
from tests.ingest.test_api_keys import notifctl

SANDBOX_SENDER = CoreSettings().whatsapp_phone_number_id
"""The sandbox's one sender, which the dev tenant (A) holds."""

_serial = itertools.count(1)


def fresh_number() -> str:
    """A phone number id no tenant holds yet (15 digits)."""
    return f"9{time.time_ns() % 10**10:010d}{next(_serial):04d}"


BAD_SENDERS = [
    "100000000000001/../../me?x=",
    "100000000000001/messages",
    "../100000000000001",
    "..",
    "12345?x=1",
    "12345#frag",
    "%2F12345",
    "12345%2F..",
    "\u0661\u0662\u0663\u0664\u0665",  # Arabic-Indic digits (١٢٣٤٥)
    "\uff11\uff12\uff13\uff14\uff15",  # full-width digits
    "12345\n",
    " 12345",
    "1234",
    "1" * 21,
    "",
]


def call(services: Services, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(
        method, services.url("ingest") + path, headers={"X-API-Key": key}, **kwargs
    )


@dataclasses.dataclass
class World:
    a_key: str
    b_key: str
    c_key: str
    b_number: str
    sent: str
    """A's notification that reached ``read`` (it has usage, callbacks, a recipient)."""
    sent_to: str
    scheduled: str
    """A's notification scheduled for later (cancellable)."""
    suppressed: str
    """A recipient A suppressed through the API."""


@pytest.fixture(scope="module")
def world(services: Services, api_key: str, stack: Stack) -> World:
    async def tenants() -> tuple[str, str, str]:
        from notif_core.db import make_engine

        engine = make_engine(stack.database_url, pool_size=1)
        try:
            async with engine.begin() as conn:
                b = await ensure_tenant(conn, f"wall-b-{new_id()}", phone_number_ids=[number])
                c = await ensure_tenant(conn, f"wall-c-{new_id()}")
                return number, await add_key(conn, b), await add_key(conn, c)
        finally:
            await engine.dispose()

    number = fresh_number()
    b_number, b_key, c_key = asyncio.run(tenants())
    sent_to = recipient()
    sent = call(services, api_key, "POST", "/v1/notifications", json=hello(sent_to))
    assert sent.status_code == 202, sent.text
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    scheduled = call(
        services, api_key, "POST", "/v1/notifications", json=hello(recipient()) | {"send_at": later}
    )
    assert scheduled.status_code == 202, scheduled.text
    suppressed = recipient()
    added = call(services, api_key, "POST", "/v1/suppressions", json={"recipient": suppressed})
    assert added.status_code == 202
    assert added.json()["phone_number_ids"] == [SANDBOX_SENDER]
    wait_status(services, api_key, sent.json()["id"], "read", timeout=30)
    return World(
        a_key=api_key,
        b_key=b_key,
        c_key=c_key,
        b_number=b_number,
        sent=sent.json()["id"],
        sent_to=sent_to,
        scheduled=scheduled.json()["id"],
        suppressed=suppressed,
    )


def a_state(services: Services, w: World) -> dict[str, Any]:
    """Everything of A's that B or C could try to read or change."""

    def ok(response: httpx.Response) -> Any:
        assert response.status_code == 200, response.text
        return response.json()

    a = w.a_key
    sent = get(services, a, w.sent)
    return {
        "sent": {k: sent[k] for k in ("status", "to", "wamid", "attempts", "history")},
        "scheduled": get(services, a, w.scheduled)["status"],
        "suppressions": [
            ok(call(services, a, "GET", "/v1/suppressions", params={"recipient": r}))["items"]
            for r in (w.suppressed, w.sent_to)
        ],
        "usage": ok(call(services, a, "GET", "/v1/usage", params={"group_by": "category"})),
        "callbacks": len(
            ok(call(services, a, "GET", "/v1/callbacks", params={"notification_id": w.sent}))[
                "items"
            ]
        ),
        "secrets": ok(call(services, a, "GET", "/v1/callback-secrets")),
    }


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


def test_another_tenant_can_reach_nothing_of_a(services: Services, world: World) -> None:
    w = world
    assert w.suppressed in str(a_state(services, w)["suppressions"])  # A's opt-out is listed
    before = a_state(services, w)
    for key in (w.b_key, w.c_key):
        # notifications: get, events, cancel, list
        for path in (f"/v1/notifications/{w.sent}", f"/v1/notifications/{w.sent}/events"):
            refused(call(services, key, "GET", path), 404, "notification_not_found")
        cancel = call(services, key, "POST", f"/v1/notifications/{w.scheduled}/cancel")
        refused(cancel, 404, "notification_not_found")
        listing = call(services, key, "GET", "/v1/notifications", params={"limit": 200})
        assert listing.status_code == 200
        assert not {w.sent, w.scheduled} & {i["id"] for i in listing.json()["items"]}
        # A's number, one by one and in a batch
        one = hello(recipient()) | {"phone_number_id": SANDBOX_SENDER}
        code = "unknown_sender" if key == w.b_key else "no_sender_assigned"
        refused(call(services, key, "POST", "/v1/notifications", json=one), 422, code)
        batch = call(
            services, key, "POST", "/v1/notifications/batch", json={"notifications": [one]}
        )
        assert batch.status_code in (200, 202), batch.text
        assert [r["error"]["code"] for r in batch.json()["results"]] == [code]
        # suppressions: list, add and lift on A's number, lift on the tenant's own
        for who in (w.suppressed, w.sent_to):
            listed = call(services, key, "GET", "/v1/suppressions", params={"recipient": who})
            assert listed.status_code == 200
            assert listed.json()["items"] == []
        everything = call(services, key, "GET", "/v1/suppressions", params={"limit": 200})
        assert SANDBOX_SENDER not in {i["phone_number_id"] for i in everything.json()["items"]}
        code = "unknown_phone_number_id" if key == w.b_key else "no_sender_assigned"
        on_a = {"recipient": w.sent_to, "phone_number_id": SANDBOX_SENDER}
        refused(call(services, key, "POST", "/v1/suppressions", json=on_a), 422, code)
        lift_a = call(
            services,
            key,
            "DELETE",
            f"/v1/suppressions/{w.suppressed}",
            params={"phone_number_id": SANDBOX_SENDER},
        )
        refused(lift_a, 422, code)
        # erasure of A's recipients
        for who in (w.sent_to, w.suppressed):
            erase = call(services, key, "DELETE", f"/v1/recipients/{who}")
            refused(erase, 404, "recipient_not_found")
        # usage and callbacks
        usage = call(services, key, "GET", "/v1/usage", params={"group_by": "category"})
        assert usage.json()["total"]["messages"] == 0
        callbacks = call(services, key, "GET", "/v1/callbacks", params={"notification_id": w.sent})
        assert callbacks.json()["items"] == []
        # callback secrets: its own, and rotating them leaves A's alone
        mine = call(services, key, "GET", "/v1/callback-secrets").json()
        assert not {s["secret"] for s in mine["secrets"]} & {
            s["secret"] for s in before["secrets"]["secrets"]
        }
        assert call(services, key, "POST", "/v1/callback-secrets/rotate").status_code == 201
    # B lifts A's recipient without naming a number: only B's own number is lifted
    lifted = call(services, w.b_key, "DELETE", f"/v1/suppressions/{w.suppressed}")
    assert lifted.status_code == 202
    assert lifted.json()["phone_number_ids"] == [w.b_number]
    refused(
        call(services, w.c_key, "DELETE", f"/v1/suppressions/{w.suppressed}"),
        422,
        "no_sender_assigned",
    )
    added = call(services, w.b_key, "POST", "/v1/suppressions", json={"recipient": w.sent_to})
    assert added.json()["phone_number_ids"] == [w.b_number]
    asyncio.run(wait_queues_empty(["events"], within=15))
    time.sleep(0.5)  # the ledger's last batch commits after its delete
    after = a_state(services, w)
    assert after == before
    # B sees its own opt-out, and A does not see B's
    listed = call(services, w.b_key, "GET", "/v1/suppressions", params={"recipient": w.sent_to})
    assert [i["phone_number_id"] for i in listed.json()["items"]] == [w.b_number]


@pytest.mark.parametrize("bad", BAD_SENDERS)
def test_a_sender_that_is_not_a_phone_number_id_is_422_everywhere(
    services: Services, world: World, bad: str
) -> None:
    key = world.a_key
    body = hello(recipient()) | {"phone_number_id": bad}
    response = call(services, key, "POST", "/v1/notifications", json=body)
    refused(response, 422, "validation_error")
    assert response.json()["error"]["field"] == "phone_number_id"
    batch = call(services, key, "POST", "/v1/notifications/batch", json={"notifications": [body]})
    [result] = batch.json()["results"]
    assert (result["status"], result["error"]["code"]) == ("rejected", "validation_error")
    assert result["error"]["field"] == "phone_number_id"
    add = {"recipient": recipient(), "phone_number_id": bad}
    response = call(services, key, "POST", "/v1/suppressions", json=add)
    refused(response, 422, "validation_error")
    assert response.json()["error"]["field"] == "phone_number_id"
    lift = call(
        services,
        key,
        "DELETE",
        f"/v1/suppressions/{add['recipient']}",
        params={"phone_number_id": bad},
    )
    refused(lift, 422, "validation_error")
    assert "phone_number_id" in lift.text


def test_a_foreign_or_unassigned_number_is_422_unknown_sender(
    services: Services, world: World
) -> None:
    for number in (world.b_number, fresh_number()):
        body = hello(recipient()) | {"phone_number_id": number}
        refused(
            call(services, world.a_key, "POST", "/v1/notifications", json=body),
            422,
            "unknown_sender",
        )
    body = hello(recipient()) | {"phone_number_id": SANDBOX_SENDER}
    assert call(services, world.a_key, "POST", "/v1/notifications", json=body).status_code == 202


@pytest.fixture
async def in_process_ingest(stack: Stack) -> AsyncIterator[Any]:
    """An ingest of its own, with the settings the test gives (same database and queues)."""
    apps = []

    async def start(**settings: Any) -> httpx.AsyncClient:
        app = create_app(IngestSettings(**settings))
        context = app.router.lifespan_context(app)
        await context.__aenter__()
        apps.append(context)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")

    yield start
    for context in apps:
        await context.__aexit__(None, None, None)


async def test_a_tenant_without_numbers_uses_the_default_sender_only_if_single_tenant(
    world: World, in_process_ingest: Any, engine: AsyncEngine
) -> None:
    headers = {"X-API-Key": world.c_key}
    walled = await in_process_ingest(single_tenant=False)
    response = await walled.post("/v1/notifications", json=hello(recipient()), headers=headers)
    refused(response, 422, "no_sender_assigned")
    assert response.json()["error"]["field"] == "phone_number_id"
    single = await in_process_ingest(single_tenant=True)
    response = await single.post("/v1/notifications", json=hello(recipient()), headers=headers)
    assert response.status_code == 202, response.text
    async with engine.connect() as conn:
        named = (
            await conn.execute(
                text(
                    "SELECT body::jsonb->'payload'->>'phone_number_id' FROM ingest.outbox "
                    "WHERE queue = 'dispatch' AND body::jsonb->>'notification_id' = :id"
                ),
                {"id": response.json()["id"]},
            )
        ).scalar_one()
    assert named == SANDBOX_SENDER  # the event names its sender
    other = hello(recipient()) | {"phone_number_id": world.b_number}
    response = await single.post("/v1/notifications", json=other, headers=headers)
    refused(response, 422, "unknown_sender")
    listed = await single.get("/v1/suppressions", headers={"X-API-Key": world.b_key})
    assert SANDBOX_SENDER not in response.text + listed.text  # B's view stays B's numbers
    await walled.aclose()
    await single.aclose()


async def test_a_number_belongs_to_one_tenant(stack: Stack, engine: AsyncEngine) -> None:
    taken = SANDBOX_SENDER
    tenant = f"grab-{new_id()}"
    refused_cli = notifctl(stack, "keys", "create", "--tenant", tenant, "--phone-number-id", taken)
    assert refused_cli.returncode == 2
    assert f"{taken} is already assigned to tenant 'dev'" in refused_cli.stderr
    assert "wn_live_" not in refused_cli.stdout
    malformed = notifctl(stack, "keys", "create", "--tenant", tenant, "--phone-number-id", "1/..")
    assert malformed.returncode == 2
    assert "not 5 to 20 digits" in malformed.stderr
    spec = f"{tenant}:{generate_key()}:{taken}"
    async with engine.begin() as conn:
        with pytest.raises(SenderRefused, match="already assigned to tenant 'dev'"):
            await bootstrap_keys(conn, spec)
    async with engine.connect() as conn:
        exists = await conn.execute(
            text("SELECT 1 FROM ingest.tenants WHERE name = :n"), {"n": tenant}
        )
        assert exists.first() is None  # nothing written
    own = fresh_number()
    async with engine.begin() as conn:
        assert await bootstrap_keys(conn, f"{tenant}:{generate_key()}:{own}")
    async with engine.begin() as conn:
        with pytest.raises(SenderRefused):
            await ensure_tenant(conn, f"other-{new_id()}", phone_number_ids=[own])


# --- the dispatcher ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_SENDERS)
async def test_the_dispatcher_never_builds_a_url_from_a_bad_sender(
    services: Services, bad: str
) -> None:
    nid = str(new_id())
    async with httpx.AsyncClient() as client:
        api = HttpxCloudApi(
            client,
            base_url=services.url("sandbox"),
            version="v21.0",
            access_token="sandbox-access-token",
        )
        assert api.url(bad) is None
        result = await api.send(
            bad, api.message_body(recipient(), {"type": "text", "text": {"body": "x"}}, nid)
        )
    assert result.error is not None
    assert result.error.code == INVALID_SENDER
    assert result.wamid is None
    assert not result.unconfirmed
    assert sandbox_sends(services, nid) == []
    assert api.url(SANDBOX_SENDER) == f"{services.url('sandbox')}/v21.0/{SANDBOX_SENDER}/messages"


async def test_a_queued_command_with_a_bad_sender_fails_without_calling_meta(
    services: Services, engine: AsyncEngine, world: World
) -> None:
    """A command ingest would refuse today (queued before the rule, or forged) ends
    ``failed`` with our own code, and Meta (the sandbox) never hears of it."""
    async with engine.connect() as conn:
        caller = await authenticate(conn, world.a_key)
    assert caller is not None
    good = accept.prepare(
        caller, NotificationRequest.model_validate(hello(recipient())), datetime.now(UTC)
    )
    payload = good.event.payload.model_copy(update={"phone_number_id": "100000000000001/../../me"})
    event = good.event.model_copy(update={"payload": payload})
    forged = dataclasses.replace(good, event=event, body=dump_event(event))
    async with engine.begin() as conn:
        await accept.write(conn, [(caller, forged)])
    nid = str(forged.id)
    view = await asyncio.to_thread(wait_status, services, world.a_key, nid, "failed", 20)
    assert view["last_error"]["code"] == INVALID_SENDER
    assert sandbox_sends(services, nid) == []


# --- Meta's 131050 ----------------------------------------------------------------------


def _lifecycle(who: str, sender: str | None) -> list[ev.Event]:
    nid, at = new_id(), datetime.now(UTC)
    return [
        ev.NotificationAccepted(
            producer="test",
            notification_id=nid,
            tenant_id=new_id(),
            occurred_at=at,
            payload=ev.AcceptedPayload(
                to=who, phone_number_id=sender, message={"type": "template"}
            ),
        ),
        ev.NotificationFailed(
            producer="test",
            notification_id=nid,
            occurred_at=at + timedelta(seconds=1),
            payload=ev.FailedPayload(error=ev.MetaError(code=131050, title="opted out")),
        ),
    ]


@pytest.mark.parametrize("named", [True, False])
async def test_meta_131050_suppresses_marketing_from_the_sending_number_only(
    engine: AsyncEngine, named: bool
) -> None:
    who, own = recipient(), fresh_number()
    sender = own if named else SANDBOX_SENDER  # unnamed: the default sender sent it
    async with engine.begin() as conn:
        await store.append(conn, _lifecycle(who, own if named else None))
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT phone_number_id, scope FROM ledger.suppressions WHERE recipient = :r"),
            {"r": who},
        )
        assert [tuple(r) for r in rows] == [(sender, "marketing")]
    policy = PostgresRecipientPolicy(engine)
    assert (await policy.facts(sender, who, marketing=True)).suppressed
    assert not (await policy.facts(sender, who, marketing=False)).suppressed
    other = SANDBOX_SENDER if named else own
    assert not (await policy.facts(other, who, marketing=True)).suppressed


async def test_migration_0010_moves_every_sender_rows_to_the_default_sender(
    engine: AsyncEngine,
) -> None:
    """Rows a 131050 left for "every sender" before 0010 become the default sender's,
    merged with a row that number already holds (the later times win)."""
    alone, both = recipient(), recipient()
    t1, t2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    rows = [
        ("*", alone, "marketing", "meta_error", t1, None),
        ("*", both, "marketing", "meta_error", t2, None),
        (SANDBOX_SENDER, both, "marketing", "api", t1, t1),
    ]
    insert = (
        "INSERT INTO ledger.{} (phone_number_id, recipient, scope, source, since, lifted_at) "
        "VALUES (:p, :r, :s, :src, :since, :lifted)"
    )
    async with engine.begin() as conn:
        for table in ("suppressions", "retired_suppressions"):
            for p, r, sc, src, since, lifted in rows:
                await conn.execute(
                    text(insert.format(table)),
                    {"p": p, "r": r, "s": sc, "src": src, "since": since, "lifted": lifted},
                )
        await conn.run_sync(_run_0010)
    async with engine.connect() as conn:
        for table in ("suppressions", "retired_suppressions"):
            found = await conn.execute(
                text(
                    f"SELECT phone_number_id, recipient, since, lifted_at FROM ledger.{table} "  # noqa: S608
                    "WHERE recipient IN (:a, :b) ORDER BY recipient"
                ),
                {"a": alone, "b": both},
            )
            assert sorted(tuple(r) for r in found) == sorted(
                [(SANDBOX_SENDER, alone, t1, None), (SANDBOX_SENDER, both, t2, t1)]
            )
    policy = PostgresRecipientPolicy(engine)
    assert (await policy.facts(SANDBOX_SENDER, alone, marketing=True)).suppressed
    assert not (await policy.facts(fresh_number(), alone, marketing=True)).suppressed


def _run_0010(sync_conn: Any) -> None:
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    path = Path(ledger.__file__).parent / "migrations/versions/0010_opt_outs_per_sender.py"
    spec = importlib.util.spec_from_file_location("ledger_0010", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with Operations.context(MigrationContext.configure(sync_conn)):
        module.upgrade()


def test_a_tenant_cannot_erase_what_another_tenant_holds(
    services: Services, world: World, stack: Stack
) -> None:
    """Erasure forgets a person across the deployment, so a tenant may ask only for someone
    it dealt with (its own suppress or lift does not count: the person did neither), and
    someone another tenant also knows is the operator's to erase (409 recipient_shared).
    A's notification to them is untouched either way."""
    w = world
    before = get(services, w.a_key, w.sent)
    call(services, w.b_key, "POST", "/v1/suppressions", json={"recipient": w.sent_to})
    asyncio.run(wait_queues_empty(["events"], within=15))
    refused(
        call(services, w.b_key, "DELETE", f"/v1/recipients/{w.sent_to}"), 404, "recipient_not_found"
    )

    async def window_at_b(sql: str) -> None:
        """As if the person had written to B's number (the sandbox serves only A's), and
        undone after: no event made it, and later checks compare the ledger to a rebuild."""
        from notif_core.db import make_engine
        from notif_core.identity import recipient_key

        engine = make_engine(stack.database_url, pool_size=1)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(sql), {"s": w.b_number, "r": recipient_key(w.sent_to)})
        finally:
            await engine.dispose()

    asyncio.run(
        window_at_b(
            "INSERT INTO ledger.windows (phone_number_id, recipient, last_inbound_at) "
            "VALUES (:s, :r, now()) ON CONFLICT DO NOTHING"
        )
    )
    try:
        shared = call(services, w.b_key, "DELETE", f"/v1/recipients/{w.sent_to}")
        refused(shared, 409, "recipient_shared")
        assert get(services, w.a_key, w.sent) == before
    finally:
        asyncio.run(
            window_at_b("DELETE FROM ledger.windows WHERE phone_number_id = :s AND recipient = :r")
        )
