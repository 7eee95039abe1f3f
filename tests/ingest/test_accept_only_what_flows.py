"""What the API answers 202 for can be published, sent and projected; the rest is refused at
the door with a 4xx naming the field, and changes nothing.

Each input here once answered 202 and then stopped the relay for every tenant (a 400-digit
integer in ``metadata``), or answered 500 (a body nested thousands of levels deep).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.conftest import SANDBOX_SECRET, recipient
from tests.e2e.api import hello, post, wait_status
from tests.e2e.services import Services

from notif_core.json_rules import MAX_DEPTH, MAX_SAFE_INTEGER
from wa_sandbox.meta import sign

pytestmark = pytest.mark.e2e


def raw_post(services: Services, key: str, path: str, body: str) -> httpx.Response:
    return httpx.post(
        services.url("ingest") + path,
        content=body,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )


def template_with(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "order_update",
        "language": "en_US",
        "components": [{"type": "body", "parameters": parameters}],
    }


def nested_json(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_a_huge_integer_in_metadata_is_422_at_its_path(services: Services, api_key: str) -> None:
    # the literal bytes, as a client sends them: 1 followed by 400 zeros
    body = (
        '{"to":"+14155550101","template":{"name":"hello_world","language":"en_US"},'
        '"metadata":{"n":1' + "0" * 400 + "}}"
    )
    response = raw_post(services, api_key, "/v1/notifications", body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == "metadata.n"


@pytest.mark.parametrize(
    ("literal", "field"),
    [
        ("12345678901234567890123", "metadata.n"),  # about 23 digits
        (str(MAX_SAFE_INTEGER + 1), "metadata.n"),
        (str(-MAX_SAFE_INTEGER - 1), "metadata.n"),
        ("1e400", "metadata.n"),  # parsed as infinity
        ("NaN", "metadata.n"),
        ("-Infinity", "metadata.n"),
        ("1.0e308", "metadata.n"),  # jsonb would give it back as a 309-digit integer
        ("1e22", "metadata.n"),
    ],
)
def test_numbers_outside_what_every_parser_agrees_on_are_422(
    services: Services, api_key: str, literal: str, field: str
) -> None:
    body = (
        '{"to":"' + recipient() + '","template":{"name":"hello_world","language":"en_US"},'
        '"metadata":{"n":' + literal + "}}"
    )
    response = raw_post(services, api_key, "/v1/notifications", body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


def test_template_components_follow_the_same_rules(services: Services, api_key: str) -> None:
    parameter = {"type": "text", "text": "A", "extra": {"deep": [0, 2**64]}}
    body = {"to": recipient(), "template": template_with([parameter])}
    response = post(services, api_key, body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == ("template.components.0.parameters.0.extra.deep.1")


def test_the_largest_safe_integer_is_accepted_and_flows(services: Services, api_key: str) -> None:
    body = hello(recipient()) | {"metadata": {"n": MAX_SAFE_INTEGER, "m": -MAX_SAFE_INTEGER}}
    response = post(services, api_key, body)
    assert response.status_code == 202, response.text
    view = wait_status(services, api_key, response.json()["id"], "read", timeout=30)
    assert view["metadata"] == {"n": MAX_SAFE_INTEGER, "m": -MAX_SAFE_INTEGER}


def test_metadata_nested_beyond_the_bound_is_422(services: Services, api_key: str) -> None:
    body = (
        '{"to":"' + recipient() + '","template":{"name":"hello_world","language":"en_US"},'
        '"metadata":' + nested_json(MAX_DEPTH + 1) + "}"
    )
    response = raw_post(services, api_key, "/v1/notifications", body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"].startswith("metadata.a.a")


@pytest.mark.parametrize("depth", [3_000, 100_000])
@pytest.mark.parametrize(
    "path",
    [
        "/v1/notifications",
        "/v1/notifications/batch",
        "/v1/suppressions",
        "/v1/callback-secrets/rotate",
    ],
)
def test_a_body_nested_thousands_deep_is_4xx_never_500(
    services: Services, api_key: str, path: str, depth: int
) -> None:
    body = '{"metadata":' + nested_json(depth) + "}"
    response = raw_post(services, api_key, path, body)
    assert response.status_code in (400, 413), (response.status_code, response.text[:200])
    expected = "invalid_json" if response.status_code == 400 else "payload_too_large"
    assert response.json()["error"]["code"] == expected


def test_a_batch_item_nested_deep_is_refused_as_a_whole(services: Services, api_key: str) -> None:
    item = (
        '{"to":"' + recipient() + '","template":{"name":"hello_world","language":"en_US"},'
        '"metadata":' + nested_json(900) + "}"
    )
    response = raw_post(
        services, api_key, "/v1/notifications/batch", '{"notifications":[' + item + "]}"
    )
    assert response.status_code == 422, response.text[:300]
    assert response.json()["error"]["field"].startswith("notifications.0.metadata")


def test_a_batch_item_with_a_huge_integer_is_rejected_alone(
    services: Services, api_key: str
) -> None:
    good = hello(recipient())
    bad = hello(recipient()) | {"metadata": {"n": 10**30}}
    response = httpx.post(
        services.url("ingest") + "/v1/notifications/batch",
        json={"notifications": [good, bad]},
        headers={"X-API-Key": api_key},
    )
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert results[0]["status"] == "accepted"
    assert results[1]["status"] == "rejected"
    assert results[1]["error"]["field"] == "metadata.n"
    wait_status(services, api_key, results[0]["id"], "read", timeout=30)


def test_a_notification_that_would_not_fit_one_queue_message_is_422(
    services: Services, api_key: str
) -> None:
    # Under the 256 KB body limit, but its event (the body plus the envelope) is not. The
    # bulk is in a component the template check does not model (it passes those: Meta
    # decides), so it is the queue message's size that refuses it.
    template = template_with([{"type": "text", "text": "A-1"}])
    bulk = {"type": "text", "text": "x" * (256 * 1024 - 600)}
    template["components"].append({"type": "carousel", "parameters": [bulk]})
    body = {"to": recipient(), "template": template}
    response = post(services, api_key, body)
    assert response.status_code == 422, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "notification_too_large"
    assert error["field"] == "template.components"


def test_characters_sqs_refuses_are_carried_escaped(services: Services, api_key: str) -> None:
    body = hello(recipient()) | {"metadata": {"odd": "a\ufffeb\uffffc"}}
    response = post(services, api_key, body)
    assert response.status_code == 202, response.text
    view = wait_status(services, api_key, response.json()["id"], "read", timeout=30)
    assert view["metadata"] == {"odd": "a\ufffeb\uffffc"}


def test_a_signed_webhook_nested_thousands_deep_is_400(services: Services) -> None:
    body = ('{"object":"whatsapp_business_account","entry":' + nested_json(5_000) + "}").encode()
    response = httpx.post(
        services.url("ingest") + "/webhooks/whatsapp",
        content=body,
        headers={
            "X-Hub-Signature-256": sign(SANDBOX_SECRET, body),
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_json"
