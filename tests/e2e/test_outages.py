"""Outages under load on a stack of their own: Valkey frozen (SIGSTOP) and PostgreSQL stopped
while notifications flow. Afterwards every DLQ is empty and every accepted notification is
``read``; the dispatcher reported the outage on its readiness probe meanwhile. Also: a
configuration whose retry budget reaches maxReceiveCount does not start.

The stack is this module's own (its Valkey and PostgreSQL are the ones paused and stopped),
so no other test shares the outage."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from notif_core.db import libpq_url
from notif_core.settings import CoreSettings
from notif_core.sqs import QueueNames, queue_depths, sqs_client
from notif_local.cluster import BIN
from notif_local.devtenant import ensure_dev_key
from notif_local.stack import LocalStack, Ports, create_queues, migrate_all
from tests.conftest import SANDBOX_SECRET, START_TIMEOUT, recipient
from tests.e2e.api import hello
from tests.e2e.services import Services

pytestmark = pytest.mark.e2e

MAX_RECEIVE_COUNT = 5  # the provisioning default
RATE = 25  # notifications per second
VALKEY_RATE = 50
VALKEY_FROZEN_SECONDS = 60


@dataclass
class Outage:
    local: LocalStack
    services: Services
    key: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def outage_stack() -> Iterator[Outage]:
    # Not under pytest's base directory: another pytest run resets its mode to 0700, and a
    # PostgreSQL restarted as its own system user could no longer read its data directory.
    root = Path(tempfile.mkdtemp(prefix="notif-outage-"))
    root.chmod(0o755)
    local = LocalStack(root, ports=Ports.all_free(), outer_env={})
    env = local.start()
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "QUEUE_PREFIX"):
            mp.delenv(name, raising=False)
        services = Services(
            env={
                **env,
                "LOG_LEVEL": "INFO",
                "WHATSAPP_APP_SECRET": SANDBOX_SECRET,
                "SANDBOX_APP_SECRET": SANDBOX_SECRET,
                "SANDBOX_TIME_SCALE": "0.2",
                "RETRY_BASE_SECONDS": "0.5",
                "SQS_WAIT_SECONDS": "2",
                "MAX_ATTEMPTS": str(MAX_RECEIVE_COUNT - 1),
                "API_RATE_LIMIT_PER_SECOND": "1000",
                "CALLBACK_RETRY_BASE_SECONDS": "0.2",
                "CALLBACK_RETRY_CAP_SECONDS": "1",
                "DRAIN_SECONDS": "5",
            },
            ports=local.ports.services(),
            log_dir=root / "service-logs",
        )
        services.log_dir.mkdir()
        try:
            migrate_all(env["DATABASE_URL"])
            create_queues(CoreSettings(), max_receive_count=MAX_RECEIVE_COUNT)
            key = ensure_dev_key(env["DATABASE_URL"], root / "dev-api-key")
            for name in ("sandbox", "ledger", "dispatcher", "relay", "ingest"):
                services.start(name, timeout=START_TIMEOUT)
            yield Outage(local, services, key, env)
        finally:
            services.stop_all()
            local.stop()
            shutil.rmtree(root, ignore_errors=True)


@dataclass
class Load:
    """Posts ``RATE`` notifications a second in a thread; keeps the ids ingest accepted."""

    services: Services
    key: str
    seconds: float
    rate: float = RATE
    accepted: list[str] = field(default_factory=list)
    refused: int = 0

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            start = time.monotonic()
            for n in range(int(self.seconds * self.rate)):
                time.sleep(max(0.0, start + n / self.rate - time.monotonic()))
                try:
                    answer = client.post(
                        self.services.url("ingest") + "/v1/notifications",
                        json=hello(recipient()),
                        headers={"X-API-Key": self.key},
                    )
                except httpx.HTTPError:
                    self.refused += 1
                    continue
                if answer.status_code == 202:
                    self.accepted.append(answer.json()["id"])
                else:
                    self.refused += 1


@dataclass
class ReadinessWatch:
    """Polls a service's readiness in a thread and keeps the not-ready answers."""

    url: str
    not_ready: list[dict[str, object]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                answer = httpx.get(self.url + "/v1/health", timeout=5)
                if answer.status_code == 503:
                    self.not_ready.append(answer.json())
            except httpx.HTTPError:
                pass
            time.sleep(0.5)


def wait_all_read(database_url: str, ids: list[str], within: float) -> None:
    deadline = time.monotonic() + within
    done = 0
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM ledger.notifications WHERE id = ANY(%s::uuid[])"
                " AND status = 'read'",
                (ids,),
            ).fetchone()
            done = row[0] if row else 0
            if done == len(ids):
                return
            time.sleep(0.5)
    raise AssertionError(f"{done} of {len(ids)} notifications read")


def dlq_depths() -> dict[str, int]:
    names = QueueNames(CoreSettings().queue_prefix)

    async def go() -> dict[str, int]:
        async with sqs_client(CoreSettings()) as sqs:
            return await queue_depths(sqs, [names.dlq(n) for n in names.all()])

    return asyncio.run(go())


def under_load(outage: Outage, seconds: float, fault: threading.Thread, rate: float = RATE) -> Load:
    load = Load(outage.services, outage.key, seconds, rate)
    sender = threading.Thread(target=load.run)
    sender.start()
    time.sleep(2)
    fault.start()
    fault.join()
    sender.join()
    return load


def test_a_frozen_valkey_parks_nothing_in_a_dlq(outage_stack: Outage) -> None:
    valkey = outage_stack.local.valkey
    assert valkey is not None
    assert valkey.pid is not None
    pid = valkey.pid  # the Valkey this module started, and nothing else
    watch = ReadinessWatch(outage_stack.services.url("dispatcher"))
    watching = threading.Thread(target=watch.run)
    watching.start()

    def freeze() -> None:
        os.kill(pid, signal.SIGSTOP)
        try:
            # far longer than five counted receives (1+2+4+8 s of backoff) last
            time.sleep(VALKEY_FROZEN_SECONDS)
        finally:
            os.kill(pid, signal.SIGCONT)

    load = under_load(outage_stack, 12, threading.Thread(target=freeze), VALKEY_RATE)
    try:
        assert len(load.accepted) >= 12 * VALKEY_RATE * 0.9
        wait_all_read(outage_stack.env["DATABASE_URL"], load.accepted, 60)
    finally:
        watch.stop.set()
        watching.join()
    assert dlq_depths() == dict.fromkeys(dlq_depths(), 0)
    assert any("redis" in str(body.get("outages")) for body in watch.not_ready), watch.not_ready
    assert outage_stack.services.procs["dispatcher"].poll() is None


def test_a_stopped_postgresql_parks_nothing_in_a_dlq(outage_stack: Outage) -> None:
    postgres = outage_stack.local.postgres
    assert postgres is not None

    def stop_a_while() -> None:
        postgres.stop()
        try:
            time.sleep(15)
        finally:
            postgres.start()

    load = under_load(outage_stack, 22, threading.Thread(target=stop_a_while))
    assert len(load.accepted) >= 5 * RATE  # before the stop and after the start
    wait_all_read(outage_stack.env["DATABASE_URL"], load.accepted, 60)
    assert dlq_depths() == dict.fromkeys(dlq_depths(), 0)
    for name in ("dispatcher", "ledger"):
        assert outage_stack.services.procs[name].poll() is None, name


def test_a_retry_budget_at_max_receive_count_refuses_to_start(
    outage_stack: Outage, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        **outage_stack.services.env,
        "MAX_ATTEMPTS": str(MAX_RECEIVE_COUNT),
        "DISPATCHER_PORT": "0",
    }
    done = subprocess.run(
        [str(BIN / "notif-dispatcher")], env=env, capture_output=True, timeout=60, check=False
    )
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 1, output
    assert f"MAX_ATTEMPTS={MAX_RECEIVE_COUNT} must be below maxReceiveCount" in output
