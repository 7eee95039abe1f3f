"""Shared fixtures: one embedded stack (PostgreSQL, local SQS, Valkey) for the whole run.

Everything is real and on loopback: nothing here is mocked. The stack ignores any
DATABASE_URL/SQS_ENDPOINT_URL/REDIS_URL of the machine, so results do not depend on it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notif_core.db import make_engine
from notif_core.settings import CoreSettings
from notif_local.stack import LocalStack, Ports, create_queues, migrate_all


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

    def settings(self, **overrides: str) -> CoreSettings:
        return CoreSettings(**overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("stack")
    local = LocalStack(root, ports=Ports.all_free(), outer_env={})
    env = local.start()
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "QUEUE_PREFIX"):
            mp.delenv(name, raising=False)
        try:
            migrate_all(env["DATABASE_URL"])
            create_queues(CoreSettings(), max_receive_count=5)
            yield Stack(local=local, env=env, root=root)
        finally:
            local.stop()


@pytest.fixture(scope="session")
async def engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(stack.database_url, pool_size=4, application_name="tests")
    yield eng
    await eng.dispose()


def pytest_report_header() -> str:
    return f"embedded stack: PostgreSQL, ministack SQS, Valkey (pid {os.getpid()})"
