"""Fixtures of the end-to-end tests: every service running, and an API key."""

from __future__ import annotations

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
        "SANDBOX_SENT_DELAY": "0.05",
        "SANDBOX_DELIVERED_DELAY": "0.15",
        "SANDBOX_READ_DELAY": "0.3",
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


@pytest.fixture(scope="session")
def api_key(stack: Stack) -> str:
    return ensure_dev_key(stack.database_url, stack.root / "dev-api-key")
