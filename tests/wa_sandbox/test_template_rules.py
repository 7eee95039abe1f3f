"""Template sends over real HTTP: statuses, text headers, buttons, and parameter content."""

from __future__ import annotations

from typing import Any

import pytest
from tests.wa_sandbox.conftest import Client
from tests.wa_sandbox.test_send_endpoint import error_of, template


def text_params(*values: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": v} for v in values]


def reminder(
    header: list[dict[str, Any]] | None = None,
    body: list[dict[str, Any]] | None = None,
    buttons: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return template(
        "appointment_reminder",
        [
            {"type": "header", "parameters": header or text_params("Tuesday")},
            {"type": "body", "parameters": body or text_params("Ana", "10:30")},
            *(buttons or []),
        ],
    )


def coupon(code: Any, ptype: str = "coupon_code") -> dict[str, Any]:
    return template(
        "coupon_offer",
        [
            {"type": "body", "parameters": text_params("SAVE10")},
            {
                "type": "button",
                "sub_type": "copy_code",
                "index": 0,
                "parameters": [{"type": ptype, ptype: code}],
            },
        ],
    )


def otp(body_code: str, button_code: str) -> dict[str, Any]:
    return template(
        "otp_code",
        [
            {"type": "body", "parameters": text_params(body_code)},
            {
                "type": "button",
                "sub_type": "url",
                "index": "0",
                "parameters": text_params(button_code),
            },
        ],
    )


def quick_reply(index: int, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "button",
        "sub_type": "quick_reply",
        "index": str(index),
        "parameters": parameters,
    }


@pytest.fixture(autouse=True)
async def no_pair_limit(sandbox: Client) -> None:
    await sandbox.configure({"pair_limit": {"per_seconds": 0}})


async def test_a_paused_template_is_132015(sandbox: Client) -> None:
    response = await sandbox.send(
        template("paused_promo", [{"type": "body", "parameters": text_params("x")}])
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == 132015
    assert "Template is Paused" in error["message"]
    assert (await sandbox.http.get("/_sandbox/messages")).json() == {"messages": []}


async def _set_status(sandbox: Client, name: str, status: str) -> None:
    templates = [t.model_dump() for t in sandbox.running.sandbox.config.templates]
    for t in templates:
        if t["name"] == name:
            t["status"] = status
    assert (await sandbox.configure({"templates": templates})).status_code == 200


async def test_a_disabled_template_is_132016(sandbox: Client) -> None:
    await _set_status(sandbox, "order_update", "DISABLED")
    response = await sandbox.send(
        template("order_update", [{"type": "body", "parameters": text_params("A-1")}])
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == 132016
    assert "disabled" in error["message"]


@pytest.mark.parametrize("status", ["PENDING", "REJECTED"])
async def test_unapproved_templates_are_unknown_132001(sandbox: Client, status: str) -> None:
    await _set_status(sandbox, "hello_world", status)
    response = await sandbox.send(template("hello_world"))
    assert response.status_code == 404
    assert error_of(response)["code"] == 132001


async def test_text_header_quick_replies_and_copy_code_are_accepted(sandbox: Client) -> None:
    bodies = [
        reminder(),
        reminder(buttons=[quick_reply(0, [{"type": "payload", "payload": "CONFIRM-7"}])]),
        reminder(
            buttons=[
                quick_reply(0, [{"type": "payload", "payload": "C"}]),
                quick_reply(1, [{"type": "payload", "payload": "X"}]),
            ]
        ),
        reminder(body=text_params("Ana", "10:30    sharp")),  # four spaces are fine
        coupon("A" * 15),
        otp("482913", "482913"),
    ]
    for body in bodies:
        response = await sandbox.send(body)
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (coupon("SUMMER-SALE-2026"), 132018),  # 16 characters: too long a code
        (coupon("SAVE10", ptype="text"), 132012),
        (reminder(body=text_params("Ana", "10:30\nsharp")), 132018),
        (reminder(body=text_params("Ana\t", "10:30")), 132018),
        (reminder(body=text_params("Ana", "10:30     sharp")), 132018),  # five spaces
        (reminder(header=text_params("Tues\nday")), 132018),
        (
            template(
                "appointment_reminder", [{"type": "body", "parameters": text_params("A", "B")}]
            ),
            132000,
        ),
        (reminder(buttons=[quick_reply(0, [{"type": "text", "text": "yes"}])]), 132012),
        (reminder(buttons=[quick_reply(1, [{"type": "payload", "payload": "P"}] * 2)]), 132000),
        (
            reminder(
                buttons=[
                    {
                        "type": "button",
                        "sub_type": "url",
                        "index": "0",
                        "parameters": text_params("x"),
                    }
                ]
            ),
            132012,
        ),
        (otp("482913", "1234567890123456"), 132018),
        (otp("1234567890123456", "482913"), 132018),
    ],
)
async def test_parameter_rules_get_metas_codes(
    sandbox: Client, body: dict[str, Any], code: int
) -> None:
    response = await sandbox.send(body)
    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == code


async def test_a_missing_url_suffix_is_132000(sandbox: Client) -> None:
    without_button = template(
        "order_shipped",
        [
            {
                "type": "header",
                "parameters": [{"type": "image", "image": {"link": "https://e.com/a.png"}}],
            },
            {"type": "body", "parameters": text_params("Ana", "A-1")},
        ],
    )
    response = await sandbox.send(without_button)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == 132000
    assert "button 0" in error["error_data"]["details"]


async def test_whitespace_rule_and_code_lengths_are_configurable(sandbox: Client) -> None:
    loose = reminder(body=text_params("Ana", "10:30\nsharp"))
    long_code = coupon("SUMMER-SALE-2026")
    assert (await sandbox.send(loose)).status_code == 400
    await sandbox.configure(
        {"policy": {"reject_parameter_whitespace": False, "coupon_code_max_length": 20}}
    )
    for body in (loose, long_code):
        response = await sandbox.send(body)
        assert response.status_code == 200, response.text


async def _with_place(sandbox: Client) -> None:
    """The configured templates plus ``pickup_point``, whose header is a location."""
    templates = [t.model_dump() for t in sandbox.running.sandbox.config.templates]
    place = {
        "name": "pickup_point",
        "language": "en_US",
        "category": "utility",
        "components": [
            {"type": "header", "format": "location"},
            {"type": "body", "text": "Pick up your parcel here"},
        ],
    }
    assert (await sandbox.configure({"templates": [*templates, place]})).status_code == 200


def pickup(latitude: Any, longitude: Any = "0") -> dict[str, Any]:
    location = {"latitude": latitude, "longitude": longitude, "name": "Desk", "address": "1 Way"}
    return template(
        "pickup_point",
        [{"type": "header", "parameters": [{"type": "location", "location": location}]}],
    )


async def test_a_location_header_is_held_to_the_globe(sandbox: Client) -> None:
    """``float()`` reads "nan" and "inf" in any case and spelling; NaN compares false with
    any bound, so it is refused as not finite, as infinities are."""
    await _with_place(sandbox)
    for latitude, longitude in (("37.48", "-122.14"), (37.48, -122.14), ("-90", "180")):
        response = await sandbox.send(pickup(latitude, longitude))
        assert response.status_code == 200, (latitude, response.text)
    for latitude in ("nan", "NaN", " -nan", "inf", "-Infinity", "1e999", 10**400, "north", True):
        response = await sandbox.send(pickup(latitude))
        assert response.status_code == 400, (latitude, response.text)
        error = error_of(response)
        assert error["code"] == 131009, (latitude, error)
        assert "location.latitude" in error["error_data"]["details"]
    for longitude in ("nan", "180.5"):
        response = await sandbox.send(pickup("0", longitude))
        assert error_of(response)["code"] == 131009, (longitude, response.text)
    missing = template(
        "pickup_point", [{"type": "header", "parameters": [{"type": "location", "location": 1}]}]
    )
    assert error_of(await sandbox.send(missing))["code"] == 132012
    assert len((await sandbox.http.get("/_sandbox/messages")).json()["messages"]) == 3


async def test_a_location_message_beyond_any_float_is_refused_not_a_5xx(sandbox: Client) -> None:
    for latitude in (10**400, "nan", "-inf"):
        body = {"type": "location", "location": {"latitude": latitude, "longitude": 0}}
        response = await sandbox.send(body | {"to": "14155550101"})
        assert response.status_code == 400, (latitude, response.text)
        assert error_of(response)["code"] == 131009


async def test_an_inbound_location_with_a_non_finite_coordinate_is_refused(
    sandbox: Client,
) -> None:
    """The management API's JSON parser reads ``NaN`` and ``Infinity``; a webhook carrying
    one is JSON no consumer's parser takes, so the sandbox refuses to make it."""
    for latitude in ("NaN", "Infinity", "-Infinity"):
        content = (
            '{"from": "14155550101", "message": {"type": "location", '
            f'"location": {{"latitude": {latitude}, "longitude": 1}}}}}}'
        )
        response = await sandbox.http.post(
            "/_sandbox/inbound", content=content, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (latitude, response.text)
        assert "latitude" in str(response.json()["error"])
