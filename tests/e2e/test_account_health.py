"""Account health end to end: Meta's ``phone_number_quality_update`` webhook (from the
sandbox's control API) reaches ingest, the relay reads the number again from Meta's
phone-number API, and the dispatcher paces at the throughput Meta reports and keeps
business-initiated templates within the messaging limit, marketing held first."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import recipient
from tests.e2e.api import get, post, sandbox_sends, wait_status
from tests.e2e.services import Services

pytestmark = pytest.mark.e2e
SENDER = "100000000000001"
WABA = "200000000000001"
PROPAGATION = 30
"""Webhook, the relay's read (it looks every 5 s), the dispatcher's copy (every 5 s)."""
WINDOW = 20.0
"""MESSAGING_LIMIT_WINDOW_SECONDS of the test services: Meta's 24 h, shortened."""


def metric(services: Services, name: str, **labels: str) -> float | None:
    text = httpx.get(services.url("dispatcher") + "/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def until(probe: Callable[[], Any], expected: Any, within: float = PROPAGATION) -> Any:
    deadline = time.monotonic() + within
    found = probe()
    while found != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        found = probe()
    assert found == expected
    return found


def quality(services: Services, **change: Any) -> None:
    url = services.url("sandbox") + f"/_sandbox/senders/{SENDER}/quality"
    answer = httpx.post(url, json=change)
    assert answer.status_code == 202, answer.text  # the webhook is on its way


def cap_after_a_send(services: Services, api_key: str) -> float | None:
    """The cap the dispatcher paced the latest send at."""
    nid = post(services, api_key, hello(recipient())).json()["id"]
    wait_status(services, api_key, nid, "read", timeout=30)
    return metric(services, "dispatcher_sender_cap_mps", sender=SENDER)


def hello(to: str) -> dict[str, Any]:
    return {"to": to, "template": {"name": "hello_world", "language": "en_US"}}


def test_a_quality_downgrade_with_a_lower_throughput_lowers_the_pacer_s_cap(
    services: Services, api_key: str
) -> None:
    until(lambda: metric(services, "dispatcher_sender_reported_mps", sender=SENDER), 80.0)
    try:
        quality(services, event="THROUGHPUT_UPGRADE", throughput_mps=1000)
        until(lambda: metric(services, "dispatcher_sender_reported_mps", sender=SENDER), 1000.0)
        assert cap_after_a_send(services, api_key) == 1000.0
        quality(services, event="DOWNGRADE", quality_rating="RED", throughput_mps=80)
        until(lambda: metric(services, "dispatcher_sender_reported_mps", sender=SENDER), 80.0)
        assert cap_after_a_send(services, api_key) == 80.0
        red = {"sender": SENDER, "rating": "RED"}
        assert metric(services, "dispatcher_sender_quality", **red) == 1.0
    finally:
        quality(services, event="UPGRADE", quality_rating="GREEN", throughput_mps=80)
        until(
            lambda: metric(services, "dispatcher_sender_quality", sender=SENDER, rating="GREEN"),
            1.0,
        )


@pytest.fixture
def tier_50(services: Services) -> Iterator[None]:
    """The sandbox's number at TIER_50, counted over the test's window; unlimited after."""
    control = services.url("sandbox") + "/_sandbox/config"
    httpx.post(services.url("sandbox") + "/_sandbox/reset", json={})  # counts from zero
    policy = httpx.get(control).json()["policy"]
    httpx.post(control, json={"policy": policy | {"messaging_limit_window_seconds": WINDOW}})
    quality(services, event="DOWNGRADE", current_limit="TIER_50")
    until(lambda: metric(services, "dispatcher_messaging_limit", portfolio=WABA), 50.0)
    try:
        yield
    finally:
        quality(services, event="UPGRADE", current_limit="TIER_UNLIMITED")
        httpx.post(control, json={"policy": policy})
        until(lambda: metric(services, "dispatcher_messaging_limit", portfolio=WABA), math.inf)


def template(name: str, to: str, category: str) -> dict[str, Any]:
    body = {"type": "body", "parameters": [{"type": "text", "text": "SPRING"}]}
    sent = {"name": name, "language": "en_US", "components": [body], "category": category}
    return {"to": to, "template": sent}


def sent_count(services: Services, ids: list[str]) -> int:
    return sum(1 for nid in ids if sandbox_sends(services, nid))


async def _post_all(services: Services, key: str, bodies: list[dict[str, Any]]) -> list[str]:
    async with httpx.AsyncClient(base_url=services.url("ingest"), timeout=30) as client:
        answers = await asyncio.gather(
            *(client.post("/v1/notifications", json=b, headers={"X-API-Key": key}) for b in bodies)
        )
    assert {a.status_code for a in answers} == {202}
    return [a.json()["id"] for a in answers]


@pytest.mark.usefixtures("tier_50")
def test_the_messaging_limit_is_kept_marketing_first_and_held_sends_go_when_the_window_rolls(
    services: Services, api_key: str
) -> None:
    stats = services.url("sandbox") + "/_sandbox/stats"
    marketing = asyncio.run(
        _post_all(
            services,
            api_key,
            [template("spring_sale", recipient(), "marketing") for _ in range(50)],
        )
    )
    until(lambda: sent_count(services, marketing), 45)  # 90 % of 50 for marketing
    utility = asyncio.run(
        _post_all(
            services, api_key, [template("order_update", recipient(), "utility") for _ in range(6)]
        )
    )
    until(lambda: sent_count(services, utility), 5)  # the rest of the 50 places
    time.sleep(2)
    assert sent_count(services, marketing) == 45
    assert sent_count(services, utility) == 5
    held = [nid for nid in marketing + utility if not sandbox_sends(services, nid)]
    assert len(held) == 6
    assert {get(services, api_key, nid)["status"] for nid in held} == {"accepted"}
    counted = httpx.get(stats).json()["messaging_limits"][WABA]
    assert counted["unique_recipients"] == 50
    assert counted["over_limit"] == 0

    for nid in held:  # the window rolls: they go out, nothing lost, nothing twice
        wait_status(services, api_key, nid, "read", timeout=WINDOW + PROPAGATION)
    assert all(len(sandbox_sends(services, nid)) == 1 for nid in marketing + utility)
    assert httpx.get(stats).json()["messaging_limits"][WABA]["over_limit"] == 0
