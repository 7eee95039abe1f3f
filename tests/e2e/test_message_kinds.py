"""Interactive, location, contacts and reaction messages end to end: free-form kinds, so a
reply-button message to a customer whose 24h window is certainly closed fails with Meta's
131047 without any Cloud API call, and inside the window each kind reaches Meta (the
sandbox, which checks them as Meta does) exactly as the tenant wrote it."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import Stack, recipient
from tests.dispatcher.test_window_certainty import (  # the fixture, and its bound
    BOUND,
    dispatcher_with_small_bound,  # noqa: F401
)
from tests.e2e.api import open_window, post, sandbox_sends, wait_status
from tests.e2e.services import Services

pytestmark = pytest.mark.e2e
"""The dispatcher's WINDOW_CERTAIN_AFTER_SECONDS in the closed-window test."""

REPLY_BUTTONS = {
    "type": "button",
    "header": {"type": "text", "text": "Order A-1001"},
    "body": {"text": "Your parcel arrives tomorrow. Will someone be home?"},
    "footer": {"text": "Reply to choose"},
    "action": {
        "buttons": [
            {"type": "reply", "reply": {"id": "home-yes", "title": "Yes"}},
            {"type": "reply", "reply": {"id": "home-no", "title": "No, reschedule"}},
        ]
    },
}
LIST = {
    "type": "list",
    "body": {"text": "Pick a delivery slot"},
    "action": {
        "button": "Slots",
        "sections": [
            {"title": "Morning", "rows": [{"id": "am-9", "title": "9:00", "description": "9-10"}]},
            {"title": "Afternoon", "rows": [{"id": "pm-2", "title": "14:00"}]},
        ],
    },
}
CTA_URL = {
    "type": "cta_url",
    "body": {"text": "Follow your parcel"},
    "action": {
        "name": "cta_url",
        "parameters": {"display_text": "Track", "url": "https://example.com/t/A-1001"},
    },
}
LOCATION = {
    "latitude": 37.4421625,
    "longitude": -122.1624,
    "name": "Pickup point",
    "address": "1 Hacker Way, Menlo Park",
}
CONTACTS = [
    {
        "name": {"formatted_name": "Support desk", "first_name": "Support"},
        "phones": [{"phone": "+1 415 555 0100", "type": "WORK"}],
    }
]


def inbound_wamid(services: Services, key: str, to: str, within: float = 10) -> str:
    """The wamid of the customer's latest message, as the tenant reads it (GET /v1/inbound)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        response = httpx.get(
            services.url("ingest") + "/v1/inbound",
            params={"from": to},
            headers={"X-API-Key": key},
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        if items:
            return str(items[0]["wamid"])
        time.sleep(0.1)
    raise TimeoutError(f"no inbound message from {to} listed")


def test_reply_buttons_to_a_closed_window_fail_with_131047_and_no_call_to_meta(
    services: Services,
    api_key: str,
    dispatcher_with_small_bound: Services,  # noqa: F811 - the fixture imported above
) -> None:
    # Accepted while no dispatcher runs: when one reads it, it is older than the bound, so
    # no customer's webhook can still be on its way: the window is certainly closed.
    response = post(services, api_key, {"to": recipient(), "interactive": REPLY_BUTTONS})
    assert response.status_code == 202, response.text
    nid = response.json()["id"]
    time.sleep(BOUND + 1)
    dispatcher_with_small_bound.start("dispatcher")
    view = wait_status(services, api_key, nid, "failed", timeout=30)
    assert view["last_error"]["code"] == 131047
    assert "checked before calling Meta" in view["last_error"]["details"]
    assert sandbox_sends(services, nid) == []


def test_reply_buttons_inside_the_window_reach_read_as_written(
    stack: Stack, services: Services, api_key: str
) -> None:
    to = recipient()
    open_window(services, stack.database_url, to)
    response = post(services, api_key, {"to": to, "interactive": REPLY_BUTTONS})
    assert response.status_code == 202, response.text
    nid = response.json()["id"]
    view = wait_status(services, api_key, nid, "read", timeout=20)
    assert view["last_error"] is None
    (send,) = sandbox_sends(services, nid)
    assert send["body"]["type"] == "interactive"
    assert send["body"]["interactive"] == REPLY_BUTTONS
    assert view["wamid"] == send["wamid"]


@pytest.mark.parametrize(
    ("kind", "value", "final"),
    [
        ("interactive", LIST, "read"),
        ("interactive", CTA_URL, "read"),
        ("location", LOCATION, "read"),
        ("contacts", CONTACTS, "read"),
    ],
    ids=["list", "cta_url", "location", "contacts"],
)
def test_every_kind_inside_the_window_reaches_meta_as_written(
    stack: Stack, services: Services, api_key: str, kind: str, value: Any, final: str
) -> None:
    to = recipient()
    open_window(services, stack.database_url, to)
    response = post(services, api_key, {"to": to, kind: value})
    assert response.status_code == 202, response.text
    nid = response.json()["id"]
    wait_status(services, api_key, nid, final, timeout=20)
    (send,) = sandbox_sends(services, nid)
    assert (send["body"]["type"], send["body"][kind]) == (kind, value)


def test_a_reaction_to_the_customer_s_message_reaches_meta(
    stack: Stack, services: Services, api_key: str
) -> None:
    to = recipient()
    open_window(services, stack.database_url, to)
    reaction = {"message_id": inbound_wamid(services, api_key, to), "emoji": "👍"}
    response = post(services, api_key, {"to": to, "reaction": reaction})
    assert response.status_code == 202, response.text
    nid = response.json()["id"]
    # Meta reports a reaction sent, never delivered or read; one to a message it cannot
    # react to would fail (131009) instead.
    view = wait_status(services, api_key, nid, "sent", timeout=20)
    assert view["last_error"] is None
    (send,) = sandbox_sends(services, nid)
    assert send["body"]["reaction"] == reaction


def test_a_kind_meta_would_refuse_is_422_at_the_door(services: Services, api_key: str) -> None:
    to = recipient()
    too_many = dict(REPLY_BUTTONS) | {
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": f"b{i}", "title": f"B{i}"}} for i in range(4)
            ]
        }
    }
    response = post(services, api_key, {"to": to, "interactive": too_many})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", "interactive.action.buttons")
    inbound_id = "0198f3a2-7c4e-7b1a-9c55-3f2d8e6a1b20"
    response = post(
        services, api_key, {"to": to, "reaction": {"message_id": inbound_id, "emoji": "👍"}}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "reaction.message_id"
