"""Fixtures of the end-to-end tests: every service running, and an API key."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from notif_local.devtenant import ensure_dev_key
from tests.conftest import Stack
from tests.e2e.services import Services

SANDBOX_SECRET = "e2e-app-secret"


@pytest.fixture(scope="session")
def services(stack: Stack) -> Iterator[Services]:
    ports = {
        "ingest": stack.ports.ingest,
        "ledger": stack.ports.ledger,
        "dispatcher": stack.ports.dispatcher,
        "sandbox": stack.ports.sandbox,
    }
    env = {
        **stack.env,
        "LOG_LEVEL": "INFO",
        "WHATSAPP_APP_SECRET": SANDBOX_SECRET,
        "SANDBOX_APP_SECRET": SANDBOX_SECRET,
        "SANDBOX_TIME_SCALE": "0.5",
        "RETRY_BASE_SECONDS": "0.5",
        "DRAIN_SECONDS": "10",
    }
    log_dir = stack.root / "service-logs"
    log_dir.mkdir(exist_ok=True)
    svc = Services(env=env, ports=ports, log_dir=log_dir)
    try:
        for name in ("sandbox", "ledger", "dispatcher", "ingest"):
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
