"""Shared fixtures: one embedded stack (PostgreSQL, local SQS, Valkey) for the whole run.

Everything is real and on loopback: nothing here is mocked. The stack ignores any
DATABASE_URL/SQS_ENDPOINT_URL/REDIS_URL of the machine, so results do not depend on it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notif_core.db import libpq_url, make_engine
from notif_core.ids import new_id
from notif_core.settings import CoreSettings
from notif_local.devtenant import ensure_dev_key
from notif_local.stack import LocalStack, Ports, create_queues, migrate_all
from tests.e2e.services import Services


@dataclass
class Stack:
    local: LocalStack
    env: dict[str, str]
    root: Path

    @property
    def ports(self) -> Ports:
        return self.local.ports

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    def new_database(self, label: str, *, migrated: bool = False) -> str:
        """A database of its own on the stack's server, empty or with every service's
        schema: for tests that must not share state with the running services. Returns
        its URL."""
        import psycopg

        name = f"{label}_{new_id().hex[-12:]}"
        admin = libpq_url(self.database_url)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = self.database_url.rsplit("/", 1)[0] + "/" + name
        if migrated:
            migrate_all(url)
        return url

    def settings(self, **overrides: str) -> CoreSettings:
        return CoreSettings(**overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("stack")
    local = LocalStack(root, ports=Ports.all_free(), outer_env={})
    env = local.start()
    # Callback receivers in tests are http servers on loopback (services and in-process apps
    # alike); tests of the refusal build their settings with it off (tests/*/test_*egress*).
    env["CALLBACK_ALLOW_PRIVATE"] = "true"
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "QUEUE_PREFIX"):
            mp.delenv(name, raising=False)
        try:
            migrate_all(env["DATABASE_URL"])
            create_queues(CoreSettings(), max_receive_count=11)  # above MAX_ATTEMPTS
            yield Stack(local=local, env=env, root=root)
        finally:
            local.stop()


@pytest.fixture(scope="session")
async def engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(stack.database_url, pool_size=4, application_name="tests", pre_ping=True)
    yield eng
    await eng.dispose()


def pytest_report_header() -> str:
    return f"embedded stack: PostgreSQL, ministack SQS, Valkey (pid {os.getpid()})"


SANDBOX_SECRET = "e2e-app-secret"


@pytest.fixture(scope="session")
def services(stack: Stack) -> Iterator[Services]:
    ports = stack.ports.services()
    env = {
        **stack.env,
        "LOG_LEVEL": "INFO",
        "WHATSAPP_APP_SECRET": SANDBOX_SECRET,
        "SANDBOX_APP_SECRET": SANDBOX_SECRET,
        "SANDBOX_TIME_SCALE": "0.5",
        "RETRY_BASE_SECONDS": "0.5",
        "SQS_WAIT_SECONDS": "2",
        "MAX_ATTEMPTS": "10",
        "API_RATE_LIMIT_PER_SECOND": "1000",
        "BREAKER_PROBE_SECONDS": "2",
        "CALLBACK_RETRY_BASE_SECONDS": "0.2",
        "CALLBACK_RETRY_CAP_SECONDS": "1",
        "QUEUE_METRICS_INTERVAL": "2",
        "DRAIN_SECONDS": "10",
        # Tenant walls as in production: a tenant sends only from numbers assigned to it
        # (the dev tenant of `api_key` holds the sandbox's sender, devtenant.py); a tenant
        # without numbers gets 422 no_sender_assigned.
        "SINGLE_TENANT": "false",
    }
    log_dir = stack.root / "service-logs"
    log_dir.mkdir(exist_ok=True)
    svc = Services(env=env, ports=ports, log_dir=log_dir)
    try:
        for name in ("sandbox", "ledger", "callbacks", "dispatcher", "relay", "ingest"):
            svc.start(name)
        yield svc
    finally:
        svc.stop_all()


_numbers = itertools.count(1)


def recipient() -> str:
    """A fresh recipient per message, so Meta's pair rate limit (1 per 6 s) stays out of the
    way where a test is not about it."""
    return f"+1415{next(_numbers):07d}"


@pytest.fixture(scope="session")
def api_key(stack: Stack) -> str:
    return ensure_dev_key(stack.database_url, stack.root / "dev-api-key")
