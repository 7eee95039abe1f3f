"""Templates end to end: the relay syncs the sandbox's catalogue (Meta's API, paged), the
door refuses a send Meta would refuse before any Cloud API call, and a status webhook from
Meta changes what the door accepts."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import recipient
from tests.e2e.api import get, post, wait_status
from tests.e2e.services import Services

pytestmark = pytest.mark.e2e


def templates(services: Services, key: str, **params: str) -> list[dict[str, Any]]:
    response = httpx.get(
        services.url("ingest") + "/v1/templates", params=params, headers={"X-API-Key": key}
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def synced(services: Services, key: str, within: float = 30) -> list[dict[str, Any]]:
    """The catalogue, once the relay has synced it (at its start)."""
    deadline = time.monotonic() + within
    while not (found := templates(services, key)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert found, "the relay did not sync the sandbox's catalogue"
    return found


def sends_to(services: Services, to: str) -> list[dict[str, Any]]:
    response = httpx.get(services.url("sandbox") + "/_sandbox/messages", params={"to": to})
    return response.json()["messages"]  # type: ignore[no-any-return]


def template(name: str, *components: dict[str, Any], language: str = "en_US") -> dict[str, Any]:
    return {"name": name, "language": language, "components": list(components)}


def body(*texts: str) -> dict[str, Any]:
    return {"type": "body", "parameters": [{"type": "text", "text": t} for t in texts]}


def coupon(code: str) -> dict[str, Any]:
    return {
        "type": "button",
        "sub_type": "copy_code",
        "index": "0",
        "parameters": [{"type": "coupon_code", "coupon_code": code}],
    }


CATALOGUE_COPY_SECONDS = 6
"""Ingest's and the dispatcher's in-memory copies of the catalogue are read again within 5 s."""
REMINDER_HEADER = {"type": "header", "parameters": [{"type": "text", "text": "May 4"}]}
REFUSED = [
    ("unknown name", template("no_such_template"), "unknown_template", "template.name"),
    (
        "unknown language",
        template("spring_sale", body("20%"), language="fr_FR"),
        "unknown_template",
        "template.language",
    ),
    ("disabled", template("retired_notice", body("x")), "template_not_approved", "template.name"),
    (
        "count",
        template("order_update", body("A-1", "extra")),
        "invalid_template_parameters",
        "template.components[0].parameters",
    ),
    (
        "newline",
        template("order_update", body("A-\n1")),
        "invalid_template_parameters",
        "template.components[0].parameters[0].text",
    ),
    (
        "media header missing",
        template("order_shipped", body("Ana", "A-1")),
        "invalid_template_parameters",
        "template.components",
    ),
    (
        "copy code too long",
        template("coupon_offer", body("SAVE"), coupon("X" * 16)),
        "invalid_template_parameters",
        "template.components[1].parameters[0].coupon_code",
    ),
    (
        "one-time code without its button",
        template("otp_code", body("123456")),
        "invalid_template_parameters",
        "template.components",
    ),
    (
        "named parameter missing",
        template(
            "order_named",
            {
                "type": "body",
                "parameters": [{"type": "text", "parameter_name": "customer", "text": "Ana"}],
            },
        ),
        "invalid_template_parameters",
        "template.components[0].parameters",
    ),
]


def test_the_catalogue_is_synced_and_listed(services: Services, api_key: str) -> None:
    found = synced(services, api_key)
    by_key = {(t["name"], t["language"]): t for t in found}
    assert by_key["order_update", "en_US"]["status"] == "APPROVED"
    assert by_key["order_update", "en_US"]["category"] == "UTILITY"
    assert by_key["paused_promo", "en_US"]["status"] == "PAUSED"
    assert {"BODY", "BUTTONS"} <= {c["type"] for c in by_key["coupon_offer", "en_US"]["components"]}
    sale = templates(services, api_key, name="spring_sale")
    assert [(t["name"], t["language"]) for t in sale] == [
        ("spring_sale", "en_US"),
        ("spring_sale", "es_ES"),
    ]


@pytest.mark.parametrize(
    ("sent", "code", "field"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED]
)
def test_a_send_meta_would_refuse_is_422_and_costs_no_cloud_api_call(
    services: Services, api_key: str, sent: dict[str, Any], code: str, field: str
) -> None:
    synced(services, api_key)
    to = recipient()
    response = post(services, api_key, {"to": to, "template": sent})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field), error
    assert sends_to(services, to) == []


def test_templates_with_buttons_reach_read(services: Services, api_key: str) -> None:
    synced(services, api_key)
    reminder = template("appointment_reminder", REMINDER_HEADER, body("Ana", "10:00"))
    offer = template("coupon_offer", body("SAVE10"), coupon("SAVE10"))
    for sent in (reminder, offer):
        response = post(services, api_key, {"to": recipient(), "template": sent})
        assert response.status_code == 202, response.text
        wait_status(services, api_key, response.json()["id"], "read", timeout=20)


def set_status(services: Services, name: str, status: str) -> None:
    """Meta changes a template's status: the sandbox sends the webhook."""
    control = services.url("sandbox") + "/_sandbox/templates/status"
    changed = httpx.post(control, json={"name": name, "language": "en_US", "status": status})
    assert changed.status_code == 202, changed.text


def status_listed(services: Services, key: str, name: str, status: str) -> None:
    """Until ingest's catalogue holds ``status`` for the template (the webhook arrived)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listed = templates(services, key, name=name)
        if [t["status"] for t in listed if t["language"] == "en_US"] == [status]:
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} never became {status}")


def test_a_template_meta_disables_is_refused_until_reinstated(
    services: Services, api_key: str
) -> None:
    synced(services, api_key)
    offer = {"to": recipient(), "template": template("spring_sale", body("20%"))}
    set_status(services, "spring_sale", "DISABLED")
    try:
        status_listed(services, api_key, "spring_sale", "DISABLED")
        time.sleep(CATALOGUE_COPY_SECONDS)
        refused = post(services, api_key, offer)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "template_not_approved"
        assert refused.json()["error"]["template_status"] == "DISABLED"
    finally:
        set_status(services, "spring_sale", "REINSTATED")
    status_listed(services, api_key, "spring_sale", "APPROVED")
    time.sleep(CATALOGUE_COPY_SECONDS)
    assert post(services, api_key, offer | {"to": recipient()}).status_code == 202


def test_a_queued_send_of_a_paused_template_is_held_and_goes_out_once_reinstated(
    services: Services, api_key: str
) -> None:
    synced(services, api_key)
    set_status(services, "coupon_offer", "PAUSED")
    try:
        status_listed(services, api_key, "coupon_offer", "PAUSED")
        time.sleep(CATALOGUE_COPY_SECONDS)  # the dispatcher's copy, too
        to = recipient()
        offer = template("coupon_offer", body("SAVE10"), coupon("SAVE10"))
        accepted = post(services, api_key, {"to": to, "template": offer})
        assert accepted.status_code == 202, accepted.text  # held, not refused
        nid = accepted.json()["id"]
        time.sleep(3)  # three holds of TEMPLATE_HOLD_SECONDS
        assert sends_to(services, to) == []
        assert get(services, api_key, nid)["status"] == "accepted"
    finally:
        set_status(services, "coupon_offer", "REINSTATED")
    view = wait_status(services, api_key, nid, "read", timeout=30)
    assert view["status"] == "read"
    assert len(sends_to(services, to)) == 1
