"""One slow or hostile receiver hurts nobody else.

Real receivers on 127.0.0.1: one drips a byte at a time (each byte well within httpx's
per-phase timeout, so only the total deadline ends the attempt), one answers 200 with an
endless body. While they hold their attempts, other tenants' callbacks are delivered and the
projection writes new ones; the hostile rows end as retries with their error class; no
receiver ever sees more attempts at once than the per-host limit. The deadline is scaled
down through the settings so that this takes seconds."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from aiohttp import web
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack
from tests.ledger.test_callbacks import lifecycle, tenant_with_secret

from ingest.notifications.read_model import callback_deliveries
from ledger import store
from ledger.callbacks import CallbackDeliverer, DeliveryConfig
from ledger.main import serve_callbacks
from ledger.settings import LedgerSettings
from notif_core.backoff import RetryPolicy
from notif_core.db import make_engine
from notif_core.ids import new_id
from notif_local.ports import free_port

DEADLINE = 1.5
DRIP_EVERY = 0.25  # far below the per-phase read timeout (the deadline): only the total trips
PER_HOST = 2


@dataclass
class Gauge:
    """Connections a receiver holds: now, at most, and how long each lasted."""

    now: int = 0
    most: int = 0
    durations: list[float] = field(default_factory=list)

    def opened(self) -> float:
        self.now += 1
        self.most = max(self.most, self.now)
        return time.monotonic()

    def closed(self, since: float) -> None:
        self.now -= 1
        self.durations.append(time.monotonic() - since)


async def drip_server(gauge: Gauge) -> tuple[asyncio.Server, str]:
    """Reads the request, then answers 200 one byte every DRIP_EVERY seconds, for ever."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        since = gauge.opened()
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            )
            await reader.readexactly(length)
            closed = asyncio.ensure_future(reader.read())  # b"" when the client hangs up
            stream = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1_000_000
            for byte in stream:
                if closed.done():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.wait({closed}, timeout=DRIP_EVERY)  # a hang-up counts at once
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            gauge.closed(since)
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/hook"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def http_server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_post("/hook", handler)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}/hook"

    yield start
    for runner in runners:
        await runner.cleanup()


def endless(gauge: Gauge) -> Handler:
    """200, then body bytes until the client hangs up."""

    async def handle(request: web.Request) -> web.StreamResponse:
        since = gauge.opened()
        try:
            await request.read()
            response = web.StreamResponse(status=200)
            await response.prepare(request)
            while True:
                await response.write(b"y" * 1024)
                await asyncio.sleep(0)
        except (ConnectionError, asyncio.CancelledError):
            return web.Response()
        finally:
            gauge.closed(since)

    return handle


@dataclass
class Good:
    """Answers 204 after ``delay``; records when each callback arrived."""

    delay: float = 0.0
    gauge: Gauge = field(default_factory=Gauge)
    arrived: dict[str, float] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        since = self.gauge.opened()
        try:
            body = await request.json()
            await asyncio.sleep(self.delay)
            self.arrived[f"{body['id']}/{body['status']}"] = time.monotonic()
            return web.Response(status=204)
        finally:
            self.gauge.closed(since)

    async def delivered(self, nids: list[UUID]) -> bool:
        """Whether every one of ``nids`` had its ``sent`` callback here."""
        return all(f"{nid}/sent" in self.arrived for nid in nids)


@pytest.fixture
async def own_engine(stack: Stack) -> AsyncIterator[tuple[str, AsyncEngine]]:
    """A database of its own: no other test's callbacks, no other deliverer."""
    url = stack.new_database("callbacks", migrated=True)
    engine = make_engine(url, pool_size=4, application_name="tests")
    yield url, engine
    await engine.dispose()


async def owe(engine: AsyncEngine, tenant: UUID, url: str, n: int) -> list[UUID]:
    """``n`` notifications to ``tenant`` that each owe one ``sent`` callback to ``url``."""
    nids = [new_id() for _ in range(n)]
    async with engine.begin() as conn:
        await store.append(conn, [e for nid in nids for e in lifecycle(nid, tenant, url)[:2]])
    return nids


async def rows(engine: AsyncEngine, url: str) -> list[tuple[str, int, str | None]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT state, attempts, last_error FROM ledger.callbacks WHERE url = :u"),
            {"u": url},
        )
        return [(r.state, r.attempts, r.last_error) for r in result]


async def until(check: Callable[[], Awaitable[bool]], seconds: float) -> float:
    """Poll ``check`` until it holds; returns how long that took (fails after ``seconds``)."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < seconds, "not within the bound"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_hostile_receivers_hold_only_their_own_slots(
    own_engine: tuple[str, AsyncEngine],
    http_server: Callable[[Handler], Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database_url, engine = own_engine
    drip, endless_gauge, good = Gauge(), Gauge(), Good()
    server, drip_url = await drip_server(drip)
    endless_url = await http_server(endless(endless_gauge))
    good_url = await http_server(good.handle)
    hostile, _ = await tenant_with_secret(engine)
    others, _ = await tenant_with_secret(engine)
    # The hostile rows are the oldest: a batch-wide wait would hold everything behind them.
    await owe(engine, hostile, drip_url, 4)
    await owe(engine, hostile, endless_url, 4)
    first = await owe(engine, others, good_url, 5)

    for name, value in {
        "DATABASE_URL": database_url,
        "CALLBACKS_PORT": str(free_port()),
        "CALLBACK_TIMEOUT_SECONDS": str(DEADLINE),
        "CALLBACK_PER_HOST": str(PER_HOST),
        "CALLBACK_CONCURRENCY": "8",
        "CALLBACK_RETRY_BASE_SECONDS": "600",
        "CALLBACK_RETRY_CAP_SECONDS": "600",
        "CALLBACK_MAX_RESPONSE_BYTES": "4096",
    }.items():
        monkeypatch.setenv(name, value)
    settings = LedgerSettings()
    assert settings.callbacks().lease_seconds > DEADLINE
    stopping = asyncio.Event()
    started = time.monotonic()
    delivering = asyncio.create_task(serve_callbacks(settings, stopping))
    try:

        async def first_delivered() -> bool:
            return all(f"{nid}/sent" in good.arrived for nid in first)

        await until(first_delivered, seconds=DEADLINE)
        assert drip.now == PER_HOST  # the drip receiver still holds its attempts

        # The projection writes more while the drip receiver is still holding on.
        wrote = time.monotonic()
        second = await owe(engine, others, good_url, 3)
        assert time.monotonic() - wrote < 0.5

        async def second_delivered() -> bool:
            return all(f"{nid}/sent" in good.arrived for nid in second)

        await until(second_delivered, seconds=1.0)
        assert drip.now > 0

        async def hostile_tried() -> bool:
            tried = await rows(engine, drip_url) + await rows(engine, endless_url)
            return all(attempts >= 1 and error for _, attempts, error in tried)

        await until(hostile_tried, seconds=4 * DEADLINE + 3)
    finally:
        stopping.set()
        await asyncio.wait_for(delivering, DEADLINE + 5)
        server.close()

    # Retries (full jitter may already have started a second attempt of some).
    assert {(s, e) for s, _, e in await rows(engine, drip_url)} == {("pending", "timeout")}
    assert {(s, e) for s, _, e in await rows(engine, endless_url)} == {("pending", "too_large")}
    assert {r for r in await rows(engine, good_url)} == {("delivered", 1, None)}
    # Each drip attempt ended at the total deadline, though every byte came in time.
    assert len(drip.durations) >= 4
    assert all(DEADLINE - 0.2 < d < DEADLINE + 1.0 for d in drip.durations)
    assert drip.most == PER_HOST
    assert endless_gauge.most <= PER_HOST
    # The first good callbacks did not wait for any hostile attempt to end.
    assert max(good.arrived[f"{nid}/sent"] for nid in first) - started < DEADLINE
    async with engine.connect() as conn:
        items, _ = await callback_deliveries(conn, hostile)
    assert {i.last_error for i in items} == {"timeout", "too_large"}


async def test_attempts_to_one_receiver_never_exceed_the_per_host_limit(
    own_engine: tuple[str, AsyncEngine], http_server: Callable[[Handler], Awaitable[str]]
) -> None:
    _, engine = own_engine
    slow = Good(delay=0.3)
    url = await http_server(slow.handle)
    tenant, _ = await tenant_with_secret(engine)
    nids = await owe(engine, tenant, url, 10)
    config = DeliveryConfig(
        retry=RetryPolicy(base_seconds=0.05, cap_seconds=0.1, max_attempts=0),
        timeout_seconds=2,
        concurrency=20,
        per_host=3,
        idle_seconds=0.05,
    )
    async with httpx.AsyncClient() as http:
        worker = CallbackDeliverer(engine, http, config)
        running = asyncio.create_task(worker.run())

        async def all_arrived() -> bool:
            return len(slow.arrived) == len(nids)

        try:
            took = await until(all_arrived, seconds=10)
        finally:
            worker.stop()
            await running
    assert slow.gauge.most == 3
    assert took >= 0.3 * 10 / 3 - 0.1  # four waves of at most three
    assert {r for r in await rows(engine, url)} == {("delivered", 1, None)}


async def test_an_unsendable_callback_is_quarantined_and_the_rest_flows(
    own_engine: tuple[str, AsyncEngine], http_server: Callable[[Handler], Awaitable[str]]
) -> None:
    _, engine = own_engine
    good = Good()
    good_url = await http_server(good.handle)
    refused_url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    broken_url = "http://[::1/hook"  # no URL: the API refuses it, an older row may hold it
    tenant, _ = await tenant_with_secret(engine)
    await owe(engine, tenant, broken_url, 1)
    await owe(engine, tenant, refused_url, 1)
    (nid,) = await owe(engine, tenant, good_url, 1)
    labels = {"stage": "callbacks", "reason": "unsendable"}
    before = REGISTRY.get_sample_value("notif_quarantined_total", labels) or 0.0
    config = DeliveryConfig(
        retry=RetryPolicy(base_seconds=600, cap_seconds=600, max_attempts=0), timeout_seconds=2
    )
    async with httpx.AsyncClient() as http:
        assert await CallbackDeliverer(engine, http, config).deliver_due() == 3
    assert f"{nid}/sent" in good.arrived
    assert await rows(engine, broken_url) == [("quarantined", 1, "invalid_url")]
    assert await rows(engine, refused_url) == [("pending", 1, "connect_failed")]
    assert REGISTRY.get_sample_value("notif_quarantined_total", labels) == before + 1
    async with engine.connect() as conn:  # the API shows it, with its class only
        quarantined, _ = await callback_deliveries(conn, tenant, state="quarantined")
    assert [(q.url, q.state, q.last_error) for q in quarantined] == [
        (broken_url, "quarantined", "invalid_url")
    ]
    # notifctl's retry puts it back; it is set aside again, not sent, not lost.
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE ledger.callbacks SET state = 'pending', next_attempt_at = now() "
                "WHERE state = 'quarantined'"
            )
        )
    async with httpx.AsyncClient() as http:
        assert await CallbackDeliverer(engine, http, config).deliver_due() >= 1
    assert await rows(engine, broken_url) == [("quarantined", 2, "invalid_url")]


async def test_notif_ledger_callbacks_is_a_process_of_its_own(
    own_engine: tuple[str, AsyncEngine],
    http_server: Callable[[Handler], Awaitable[str]],
    tmp_path: Path,
) -> None:
    database_url, engine = own_engine
    good = Good()
    url = await http_server(good.handle)
    tenant, _ = await tenant_with_secret(engine)
    (nid,) = await owe(engine, tenant, url, 1)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "CALLBACKS_PORT": str(port)}
    log = (tmp_path / "callbacks.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("notif-ledger")),
        "callbacks",
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        async def healthy_and_delivered() -> bool:
            assert proc.returncode is None, (tmp_path / "callbacks.log").read_text()[-2000:]
            try:
                async with httpx.AsyncClient() as http:
                    ok = (await http.get(f"http://127.0.0.1:{port}/v1/health")).status_code
            except httpx.HTTPError:
                return False
            return ok == 200 and f"{nid}/sent" in good.arrived

        await until(healthy_and_delivered, seconds=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0
    assert await rows(engine, url) == [("delivered", 1, None)]


def ten_slots(
    monkeypatch: pytest.MonkeyPatch, database_url: str, *, per_host: int, per_tenant: int
) -> None:
    """A deliverer with ten slots, the short deadline, and retries far beyond the test."""
    for name, value in {
        "DATABASE_URL": database_url,
        "CALLBACKS_PORT": str(free_port()),
        "CALLBACK_TIMEOUT_SECONDS": str(DEADLINE),
        "CALLBACK_PER_HOST": str(per_host),
        "CALLBACK_CONCURRENCY": "10",
        "CALLBACK_PER_TENANT": str(per_tenant),
        "CALLBACK_RETRY_BASE_SECONDS": "600",
        "CALLBACK_RETRY_CAP_SECONDS": "600",
    }.items():
        monkeypatch.setenv(name, value)


async def hanging_server(gauge: Gauge) -> tuple[asyncio.Server, str]:
    """Reads the request and never answers, until the client hangs up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        since = gauge.opened()
        try:
            await reader.read()  # b"" once the client hangs up
        except ConnectionError:
            pass
        finally:
            gauge.closed(since)
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"


async def test_a_tenant_with_many_hanging_receivers_holds_only_its_share(
    own_engine: tuple[str, AsyncEngine],
    http_server: Callable[[Handler], Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Thirty hanging receivers on thirty ports: the per-receiver limit never trips, so only
    the per-tenant share keeps the hanging tenant from taking every slot."""
    database_url, engine = own_engine
    hanging, good = Gauge(), Good()
    servers = [await hanging_server(hanging) for _ in range(30)]
    good_url = await http_server(good.handle)
    hostile, _ = await tenant_with_secret(engine)
    others, _ = await tenant_with_secret(engine)
    for _, url in servers:  # the hostile rows are the oldest
        await owe(engine, hostile, url, 1)
    first = await owe(engine, others, good_url, 10)
    share = 4
    ten_slots(monkeypatch, database_url, per_host=PER_HOST, per_tenant=share)
    stopping = asyncio.Event()
    delivering = asyncio.create_task(serve_callbacks(LedgerSettings(), stopping))
    try:
        # Well within one deadline: no hanging attempt had to end to make room.
        await until(lambda: good.delivered(first), seconds=DEADLINE - 0.3)
        assert hanging.now == share
        second = await owe(engine, others, good_url, 5)  # new ones while the hang goes on
        await until(lambda: good.delivered(second), seconds=1.0)
        assert hanging.now > 0  # still hanging: the others did not wait for it
    finally:
        stopping.set()
        await asyncio.wait_for(delivering, DEADLINE + 5)
        for server, _ in servers:
            server.close()
    assert hanging.most == share  # the hostile tenant was served, never beyond its share
    assert {r for r in await rows(engine, good_url)} == {("delivered", 1, None)}


async def test_several_hanging_tenants_and_a_shared_receiver_leave_room_for_the_others(
    own_engine: tuple[str, AsyncEngine],
    http_server: Callable[[Handler], Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three tenants whose receivers all hang could fill every slot with their shares, and
    one of them hangs on a receiver another tenant also uses: the other tenant's callbacks
    still go out at once (tenants take turns, the last slot waits for a tenant with nothing
    in flight, and the per-receiver limit is per tenant)."""
    database_url, engine = own_engine
    hanging, good = Gauge(), Good()

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(60)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", good.handle)
    app.router.add_post("/slow", slow)  # the same receiver, a path that hangs
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    shared, slow_path = f"http://127.0.0.1:{port}/hook", f"http://127.0.0.1:{port}/slow"
    servers = [await hanging_server(hanging) for _ in range(12)]
    hostile = [(await tenant_with_secret(engine))[0] for _ in range(3)]
    victim, _ = await tenant_with_secret(engine)
    for index, (_, url) in enumerate(servers):  # the hostile rows are the oldest
        await owe(engine, hostile[index % 3], url, 2)
    await owe(engine, hostile[0], slow_path, 4)
    first = await owe(engine, victim, shared, 3)
    # three hostile tenants could hold 12 of 10 slots
    ten_slots(monkeypatch, database_url, per_host=2, per_tenant=4)
    stopping = asyncio.Event()
    delivering = asyncio.create_task(serve_callbacks(LedgerSettings(), stopping))
    try:
        # Well within one deadline: no hanging attempt had to end to make room.
        await until(lambda: good.delivered(first), seconds=DEADLINE - 0.3)
        assert hanging.now > 0
    finally:
        stopping.set()
        await asyncio.wait_for(delivering, DEADLINE + 5)
        for server, _ in servers:
            server.close()
        await runner.cleanup()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:99999/hook",  # httpx raised OverflowError on every attempt
        "http://127.0.0.1:0/hook",
        "http://xn--a/hook",  # idna raised its own error
        "http://:80/hook",
    ],
)
async def test_a_url_no_client_can_use_is_quarantined_once_not_retried(
    own_engine: tuple[str, AsyncEngine], http_server: Callable[[Handler], Awaitable[str]], url: str
) -> None:
    _, engine = own_engine
    good = Good()
    good_url = await http_server(good.handle)
    tenant, _ = await tenant_with_secret(engine)
    await owe(engine, tenant, url, 1)
    (nid,) = await owe(engine, tenant, good_url, 1)
    config = DeliveryConfig(
        retry=RetryPolicy(base_seconds=0.01, cap_seconds=0.01, max_attempts=0),
        timeout_seconds=2,
    )
    async with httpx.AsyncClient() as http:
        deliverer = CallbackDeliverer(engine, http, config)
        assert await deliverer.deliver_due() == 2
        await asyncio.sleep(0.1)  # past any backoff or lease a retry would wait for
        assert await deliverer.deliver_due() == 0
    assert f"{nid}/sent" in good.arrived
    assert await rows(engine, url) == [("quarantined", 1, "invalid_url")]


async def test_any_exception_in_an_attempt_is_a_class_with_backoff_and_a_give_up(
    own_engine: tuple[str, AsyncEngine], http_server: Callable[[Handler], Awaitable[str]]
) -> None:
    """Rows written straight into the table with a body no attempt expects (a JSON array):
    the attempt fails outside httpx, and is still recorded, retried later, and given up."""
    _, engine = own_engine
    good = Good()
    url = await http_server(good.handle)
    tenant, _ = await tenant_with_secret(engine)
    async with engine.begin() as conn:
        for age in (0, 2):
            await conn.execute(
                text(
                    "INSERT INTO ledger.callbacks "
                    "(event_id, notification_id, tenant_id, url, body, created_at) VALUES "
                    "(:e, :n, :t, :u, CAST('[1]' AS jsonb), now() - make_interval(days => :d))"
                ),
                {"e": new_id(), "n": new_id(), "t": tenant, "u": url, "d": age},
            )
    config = DeliveryConfig(
        retry=RetryPolicy(base_seconds=600, cap_seconds=600, max_attempts=0), timeout_seconds=2
    )
    async with httpx.AsyncClient() as http:
        deliverer = CallbackDeliverer(engine, http, config)
        assert await deliverer.deliver_due() == 2
        assert await deliverer.deliver_due() == 0
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT state, attempts, last_error, next_attempt_at > now() + interval '1 second' "
                "AS later FROM ledger.callbacks WHERE url = :u ORDER BY created_at"
            ),
            {"u": url},
        )
        found = [(r.state, r.attempts, r.last_error, r.later) for r in result]
    assert found == [
        ("failed", 1, "unexpected_error", True),  # two days old: given up
        ("pending", 1, "unexpected_error", True),  # retried after a backoff, not at once
    ]
