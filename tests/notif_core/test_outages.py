"""Outages are not poison, a dying loop ends the process, a failing delete does not end a
loop: the consumer runtime against the real local SQS endpoint, PostgreSQL and Valkey."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx
import psycopg
import pytest
import sqlalchemy.exc
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack
from tests.notif_core.test_sqs_transport import depth, sent_event

from notif_core.db import libpq_url, make_engine
from notif_core.health import Heartbeat, probes_app
from notif_core.ids import new_id
from notif_core.outages import DATABASE, REDIS, UNKNOWN, Outages, dependency_down
from notif_core.runtime import run_service
from notif_core.settings import CoreSettings
from notif_core.sqs import Consumer, Delivery, Outcome, Publisher, provision_queues, sqs_client
from notif_core.sqs.consumer import ConsumerLoopDied
from notif_core.sqs.queues import QueueNames
from notif_core.sqs.redrive import RetryBudgetTooLarge, check_retry_budget, max_receive_count
from notif_local.ports import free_port

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

Queues = tuple["SQSClient", str, str]


@pytest.fixture
async def queues(stack: Stack) -> AsyncIterator[Queues]:
    """A fresh events queue (maxReceiveCount 3) and its DLQ."""
    async with sqs_client(CoreSettings()) as client:
        names = QueueNames(f"t{new_id().hex[-10:]}")
        urls = await provision_queues(client, names, max_receive_count=3)
        yield client, urls[names.events], urls[names.dlq(names.events)]


class Switch:
    """A dependency that is down until :meth:`restore`; its probe is the service's check."""

    def __init__(self) -> None:
        self.up = False
        self.probes = 0

    async def probe(self) -> bool:
        self.probes += 1
        return self.up

    def restore_after(self, seconds: float) -> None:
        asyncio.get_running_loop().call_later(seconds, lambda: setattr(self, "up", True))


async def redis_failure() -> Exception:
    """What a real Redis client raises when its server is not there."""
    client = Redis(port=free_port(), socket_connect_timeout=1)
    try:
        await client.ping()
    except Exception as exc:
        return exc
    finally:
        await client.aclose()
    raise AssertionError("nothing listens on a free port")


async def select_1(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def too_slow(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SET LOCAL statement_timeout = 50"))
        await conn.execute(text("SELECT pg_sleep(1)"))


async def test_unreachable_servers_are_outages_and_a_bad_statement_is_not(
    engine: AsyncEngine,
) -> None:
    assert dependency_down(await redis_failure()) == REDIS
    refused = make_engine(f"postgresql+psycopg://u:p@127.0.0.1:{free_port()}/x", pool_size=1)
    with pytest.raises(sqlalchemy.exc.OperationalError) as down:
        await select_1(refused)
    await refused.dispose()
    assert dependency_down(down.value) == DATABASE
    with pytest.raises(sqlalchemy.exc.OperationalError, match="statement timeout") as cancelled:
        await too_slow(engine)
    assert dependency_down(cancelled.value) is None  # query_canceled: the statement, not PG
    with pytest.raises(ConnectionRefusedError) as refused_socket:
        await asyncio.open_connection("127.0.0.1", free_port())
    assert dependency_down(refused_socket.value) == UNKNOWN
    assert dependency_down(ValueError("a bug")) is None


async def test_each_mode_requeues_uncounted_and_pauses_during_an_outage(queues: Queues) -> None:
    client, url, dlq = queues
    published = [sent_event() for _ in range(6)]
    await Publisher(client).publish(url, published)
    redis = Switch()
    outages = Outages({REDIS: redis.probe}, first_wait=0.2, max_wait=0.5)
    consumer = Consumer(client, [url], wait_seconds=1, outages=outages)
    failure = await redis_failure()
    counts: list[int] = []
    done: set[str] = set()
    calls_while_down: list[float] = []

    async def handler(delivery: Delivery) -> Outcome:
        counts.append(delivery.receive_count)
        if not redis.up:
            calls_while_down.append(time.monotonic())
            raise failure
        done.add(delivery.body)
        if len(done) == len(published):
            consumer.stop()
        return Outcome.ack()

    redis.restore_after(6)  # longer than three counted receives with backoff would last
    await asyncio.wait_for(consumer.run_each(handler, concurrency=4), 40)
    assert len(done) == len(published)
    assert set(counts) == {1}  # every failure went back as a fresh copy, never counted
    assert await depth(client, dlq) == 0
    # Paused: after the first failures nothing was received until the probe answered.
    assert max(calls_while_down) - min(calls_while_down) < 1.5
    assert redis.probes >= 3


async def test_batch_mode_requeues_when_the_handler_gives_up_during_an_outage(
    queues: Queues,
) -> None:
    client, url, dlq = queues
    published = [sent_event() for _ in range(12)]
    await Publisher(client).publish(url, published)
    database = Switch()
    consumer = Consumer(
        client,
        [url],
        wait_seconds=1,
        outages=Outages({DATABASE: database.probe}, first_wait=0.2, max_wait=0.5),
    )
    counts: list[int] = []
    done: set[str] = set()

    async def handler(deliveries: list[Delivery]) -> list[Outcome]:
        # Like the ledger: a failed append is turned into retry outcomes, not raised.
        counts.extend(d.receive_count for d in deliveries)
        if not database.up:
            return [Outcome.retry(1) for _ in deliveries]
        done.update(d.body for d in deliveries)
        if len(done) == len(published):
            consumer.stop()
        return [Outcome.ack() for _ in deliveries]

    database.restore_after(6)
    await asyncio.wait_for(consumer.run_batches(handler, batch_size=20), 40)
    assert len(done) == len(published)
    assert set(counts) == {1}
    assert await depth(client, dlq) == 0


async def test_a_failure_the_probe_does_not_confirm_counts_as_before(queues: Queues) -> None:
    client, url, _ = queues
    await Publisher(client).publish(url, [sent_event()])
    redis = Switch()
    redis.up = True  # answers: the failure was the message's own
    consumer = Consumer(client, [url], wait_seconds=1, outages=Outages({REDIS: redis.probe}))
    failure = await redis_failure()
    counts: list[int] = []

    async def handler(delivery: Delivery) -> Outcome:
        counts.append(delivery.receive_count)
        if len(counts) < 2:
            raise failure
        consumer.stop()
        return Outcome.ack()

    await asyncio.wait_for(consumer.run_each(handler, concurrency=1), 30)
    assert counts == [1, 2]


async def test_a_failed_delete_batch_does_not_end_the_loop(stack: Stack, queues: Queues) -> None:
    client, url, _ = queues
    sqs = stack.local.sqs
    assert sqs is not None
    await Publisher(client).publish(url, [sent_event() for _ in range(3)])
    consumer = Consumer(client, [url], wait_seconds=1)
    seen: set[str] = set()
    restarted = threading.Event()

    def restart_later() -> None:
        time.sleep(2)
        sqs.start()
        restarted.set()

    async def handler(deliveries: list[Delivery]) -> list[Outcome]:
        first = not seen
        seen.update(d.body for d in deliveries)
        if first:  # the endpoint goes away between handling and DeleteMessageBatch
            await asyncio.to_thread(sqs.stop)
            threading.Thread(target=restart_later, daemon=True).start()
        return [Outcome.ack() for _ in deliveries]

    running = asyncio.create_task(consumer.run_batches(handler))
    await asyncio.to_thread(restarted.wait, 30)
    late = sent_event()
    await Publisher(client).publish(url, [late])
    deadline = time.monotonic() + 30
    while late.model_dump_json() not in seen and time.monotonic() < deadline:
        assert not running.done(), "the batch loop ended"
        await asyncio.sleep(0.1)
    consumer.stop()
    await asyncio.wait_for(running, 30)
    assert any(str(late.event_id) in body for body in seen)


async def test_a_loop_that_raises_stops_the_consumer_with_an_error(queues: Queues) -> None:
    client, url, _ = queues
    await Publisher(client).publish(url, [sent_event() for _ in range(2)])
    consumer = Consumer(client, [url], wait_seconds=1)

    async def wrong_handler(deliveries: list[Delivery]) -> list[Outcome]:
        return []  # fewer outcomes than messages: a bug the loop cannot go on from

    with pytest.raises(ConsumerLoopDied):
        await asyncio.wait_for(consumer.run_batches(wrong_handler), 30)


def test_a_dead_loop_exits_the_process_non_zero(stack: Stack) -> None:
    async def service() -> None:
        async with sqs_client(CoreSettings()) as client:
            names = QueueNames(f"t{new_id().hex[-10:]}")
            url = (await provision_queues(client, names, max_receive_count=3))[names.events]
            await Publisher(client).publish(url, [sent_event()])
            consumer = Consumer(client, [url], wait_seconds=1)

            async def wrong_handler(deliveries: list[Delivery]) -> list[Outcome]:
                return []

            await asyncio.wait_for(consumer.run_batches(wrong_handler), 30)

    with pytest.raises(SystemExit) as exited:
        run_service(service())
    assert exited.value.code == 1


async def test_liveness_fails_once_the_loops_stop_beating() -> None:
    heartbeat = Heartbeat(max_age=0.3)

    async def ready() -> tuple[bool, dict[str, object]]:
        return True, {}

    app = probes_app("t", "0", ready, heartbeat)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        heartbeat.beat("each:0")
        assert (await c.get("/health")).status_code == 200
        await asyncio.sleep(0.4)
        stale = await c.get("/health")
        assert stale.status_code == 503
        assert stale.json()["status"] == "unhealthy"
        heartbeat.beat("each:0")
        assert (await c.get("/health")).status_code == 200


async def test_the_retry_budget_must_stay_below_max_receive_count(queues: Queues) -> None:
    client, url, dlq = queues
    assert await max_receive_count(client, url) == 3
    assert await max_receive_count(client, dlq) is None
    await check_retry_budget(client, [url, dlq], 2, "MAX_ATTEMPTS")
    with pytest.raises(
        RetryBudgetTooLarge, match=r"MAX_ATTEMPTS=3 must be below maxReceiveCount=3"
    ):
        await check_retry_budget(client, [url], 3, "MAX_ATTEMPTS")


def test_a_psycopg_connection_failure_is_a_database_outage() -> None:
    with pytest.raises(psycopg.OperationalError) as failed:
        psycopg.connect(libpq_url(f"postgresql://u:p@127.0.0.1:{free_port()}/x"), connect_timeout=2)
    assert dependency_down(failed.value) == DATABASE
