"""The 24h window check fails a send early only when the window is certainly closed.

Neither the ledger nor ingest's mark may have seen a user's inbound yet when a command is
fresh (Meta's webhook reaches us after it opened the window), so a fresh command to a
window nobody saw goes to Meta, which answers 131047 itself if the window is closed. A
command accepted longer ago than ``WINDOW_CERTAIN_AFTER_SECONDS`` fails at once, with no
call to Meta.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from tests.conftest import recipient
from tests.e2e.api import post, sandbox_sends, wait_status
from tests.e2e.services import Services

from notif_local.ports import free_port

pytestmark = pytest.mark.e2e
BOUND = 2.0


def text_to(to: str) -> dict[str, object]:
    return {"to": to, "text": {"body": "Your order shipped."}}


@pytest.fixture
def dispatcher_with_small_bound(services: Services) -> Iterator[Services]:
    """The shared dispatcher stopped, one with a 2 s certainty bound in its place (started
    by the test when it wants), the shared one back afterwards."""
    services.sandbox("/_sandbox/reset", {})
    services.signal("dispatcher")
    port = free_port()
    own = Services(
        env=services.env
        | {"DISPATCHER_PORT": str(port), "WINDOW_CERTAIN_AFTER_SECONDS": str(BOUND)},
        ports={"dispatcher": port},
        log_dir=services.log_dir / f"certainty-{port}",
    )
    own.log_dir.mkdir(exist_ok=True)
    try:
        yield own
    finally:
        own.stop_all()
        services.start("dispatcher")


def test_a_closed_window_fails_early_only_when_certain(
    services: Services, api_key: str, dispatcher_with_small_bound: Services
) -> None:
    # Accepted while no dispatcher runs: by the time one reads it, it is older than the bound.
    old = post(services, api_key, text_to(recipient())).json()["id"]
    time.sleep(BOUND + 1)
    dispatcher_with_small_bound.start("dispatcher")
    view = wait_status(services, api_key, old, "failed", timeout=30)
    assert view["last_error"]["code"] == 131047
    assert "checked before calling Meta" in view["last_error"]["details"]
    assert sandbox_sends(services, old) == []

    # Fresh: no window seen anywhere, but its webhook could still be on its way. Meta decides.
    fresh = post(services, api_key, text_to(recipient())).json()["id"]
    view = wait_status(services, api_key, fresh, "failed", timeout=30)
    assert view["last_error"]["code"] == 131047
    assert "checked before calling Meta" not in (view["last_error"].get("details") or "")
    assert len(sandbox_sends(services, fresh)) == 1
