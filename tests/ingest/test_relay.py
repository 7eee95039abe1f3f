"""The outbox relay process (``notif-relay``), run in-process on a database and queues of its
own: a commit wakes it (not its timer), and replicas share rows without publishing any twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text
from tests.conftest import Stack

from ingest.notifications.cancel import cancelled_event
from ingest.relay import outbox
from ingest.relay.process import serve
from ingest.settings import IngestSettings
from notif_core.db import make_engine
from notif_core.ids import new_id
from notif_core.sqs import QueueNames, provision_queues, sqs_client
from notif_local.ports import free_port

POLL_SECONDS = 30.0
"""The relay's timer: far longer than any wait below, so only NOTIFY can explain a publish."""


@dataclass
class RelayEnv:
    database_url: str
    prefix: str

    def settings(self) -> IngestSettings:
        return IngestSettings(
            database_url=self.database_url,
            queue_prefix=self.prefix,
            RELAY_PORT=free_port(),
            outbox_relay_interval=POLL_SECONDS,
        )


@pytest.fixture
async def relay_env(stack: Stack) -> RelayEnv:
    database_url = await asyncio.to_thread(stack.new_database, "relay", migrated=True)
    prefix = f"relay{new_id().hex[-8:]}"
    async with sqs_client(IngestSettings(queue_prefix=prefix)) as sqs:
        await provision_queues(sqs, QueueNames(prefix), max_receive_count=5)
    return RelayEnv(database_url, prefix)


async def write_events(database_url: str, count: int) -> set[str]:
    """Commit ``count`` events in one transaction, as any ingest writer does."""
    events = [cancelled_event(new_id(), new_id(), "client") for _ in range(count)]
    engine = make_engine(database_url, pool_size=1)
    async with engine.begin() as conn:
        await outbox.add_many(conn, [outbox.Pending("events", e) for e in events])
    await engine.dispose()
    return {str(e.event_id) for e in events}


async def received_ids(prefix: str, expected: int, within: float) -> list[str]:
    """Every event id on the events queue (duplicates kept) until ``expected`` or timeout."""
    ids: list[str] = []
    deadline = time.monotonic() + within
    async with sqs_client(IngestSettings(queue_prefix=prefix)) as sqs:
        url = (await sqs.get_queue_url(QueueName=QueueNames(prefix).events))["QueueUrl"]
        while time.monotonic() < deadline:
            got = await sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=300
            )
            ids += [json.loads(m["Body"])["event_id"] for m in got.get("Messages", [])]
            if len(ids) >= expected:
                # one more short poll: a duplicate would show up now
                got = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
                ids += [json.loads(m["Body"])["event_id"] for m in got.get("Messages", [])]
                break
    return ids


async def wait_ready(port: int) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                if (await client.get(f"http://127.0.0.1:{port}/v1/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError(port)


async def test_a_commit_wakes_the_relay_at_once(relay_env: RelayEnv) -> None:
    settings = relay_env.settings()
    stopping = asyncio.Event()
    relay = asyncio.create_task(serve(settings, stopping))
    try:
        await wait_ready(settings.relay_port)
        await asyncio.sleep(0.5)  # past the pass every (re)connection makes
        started = time.monotonic()
        written = await write_events(relay_env.database_url, 25)
        ids = await received_ids(relay_env.prefix, 25, within=10)
        took = time.monotonic() - started
    finally:
        stopping.set()
        await relay
    assert sorted(ids) == sorted(written)
    assert took < POLL_SECONDS / 3, took  # the NOTIFY, not the timer
    engine = make_engine(relay_env.database_url, pool_size=1)
    async with engine.connect() as conn:
        left = await conn.execute(
            text("SELECT count(*) FROM ingest.outbox WHERE published_at IS NULL")
        )
        assert left.scalar_one() == 0
    await engine.dispose()


async def test_two_relays_share_the_rows_and_publish_each_once(relay_env: RelayEnv) -> None:
    stopping = asyncio.Event()
    replicas = [relay_env.settings(), relay_env.settings()]
    relays = [asyncio.create_task(serve(s, stopping)) for s in replicas]
    try:
        for s in replicas:
            await wait_ready(s.relay_port)
        batches = await asyncio.gather(
            *(write_events(relay_env.database_url, 150) for _ in range(4))
        )
        written = set().union(*batches)
        ids = await received_ids(relay_env.prefix, len(written), within=30)
    finally:
        stopping.set()
        await asyncio.gather(*relays)
    assert len(ids) == len(written) == 600
    assert set(ids) == written
