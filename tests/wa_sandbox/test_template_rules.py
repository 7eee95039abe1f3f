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
