"""The send endpoint over real HTTP: Meta's success JSON, auth, validation, templates."""

from __future__ import annotations

from typing import Any

import pytest
from tests.wa_sandbox.conftest import Client

TO = "14155550101"


def text(to: str = TO, body: str = "hi") -> dict[str, Any]:
    return {"to": to, "type": "text", "text": {"body": body}}


def template(
    name: str, components: list[dict[str, Any]] | None = None, lang: str = "en_US"
) -> dict[str, Any]:
    tpl: dict[str, Any] = {"name": name, "language": {"code": lang}}
    if components is not None:
        tpl["components"] = components
    return {"to": TO, "type": "template", "template": tpl}


def error_of(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= {"message", "type", "code", "error_data", "fbtrace_id"}
    assert "details" in error["error_data"]
    return error


async def test_success_is_metas_json(sandbox: Client) -> None:
    response = await sandbox.send(template("hello_world") | {"to": "+1 (415) 555-0101"})
    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+1 (415) 555-0101", "wa_id": "14155550101"}]
    (message,) = body["messages"]
    assert message["id"].startswith("wamid.")
    assert message["message_status"] == "accepted"


@pytest.mark.parametrize(
    ("to", "wa_id"),
    [
        ("+525512345678", "5215512345678"),  # Mexico: the id keeps the 1 after 52
        ("5215512345678", "5215512345678"),
        ("+5582987654321", "558287654321"),  # Brazil, area 82: the id lacks the ninth digit
        ("558287654321", "558287654321"),
        ("+5511987654321", "5511987654321"),  # Brazil, area 11: the id keeps it
        ("+541123456789", "5491123456789"),  # Argentina: 549
        ("+14155550101", "14155550101"),
    ],
)
async def test_wa_id_is_the_id_meta_reports(sandbox: Client, to: str, wa_id: str) -> None:
    response = await sandbox.send(template("hello_world") | {"to": to})
    assert response.json()["contacts"] == [{"input": to, "wa_id": wa_id}]


async def test_id_rules_are_configurable(sandbox: Client) -> None:
    await sandbox.configure(
        {"identity": {"brazil_nine_less_from_area_code": 100, "mexico_mobile_ids_with_1": False}}
    )
    for to in ("+5582987654321", "+525512345678"):
        response = await sandbox.send(template("hello_world") | {"to": to})
        assert response.json()["contacts"][0]["wa_id"] == to.lstrip("+")


async def test_bad_token_is_190(sandbox: Client) -> None:
    response = await sandbox.send(text(), token="nope")
    assert response.status_code == 401
    assert error_of(response)["code"] == 190
    assert "error_subcode" not in response.json()["error"]


async def test_expired_token_is_190_subcode_463(sandbox: Client) -> None:
    await sandbox.configure({"senders": [{**_sender(sandbox), "token_expired": True}]})
    response = await sandbox.send(text())
    assert response.status_code == 401
    error = error_of(response)
    assert (error["code"], error["error_subcode"]) == (190, 463)


async def test_unknown_sender_is_100_and_unregistered_is_133010(sandbox: Client) -> None:
    response = await sandbox.send(text(), phone_id="999")
    assert (response.status_code, error_of(response)["code"]) == (400, 100)
    await sandbox.configure({"senders": [{**_sender(sandbox), "registered": False}]})
    response = await sandbox.send(text())
    assert (response.status_code, error_of(response)["code"]) == (400, 133010)


def _sender(sandbox: Client) -> dict[str, Any]:
    return sandbox.running.sandbox.config.senders[0].model_dump()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"messaging_product": "sms", **text()}, 100),
        ({"type": "text", "text": {"body": "x"}}, 100),
        (text(to="not-a-number"), 100),
        ({"to": TO, "type": "text", "text": {"body": ""}}, 100),
        ({"to": TO, "type": "text"}, 100),
        ({"to": TO, "type": "poll", "poll": {}}, 131051),
        ({"to": TO, "type": "image", "image": {"id": "1", "link": "https://x/y.png"}}, 100),
        ({"to": TO, "type": "image", "image": {"link": "ftp://x/y.png"}}, 100),
        ({"to": TO, "type": "audio", "audio": {"id": "1", "caption": "no"}}, 100),
        ({**text(), "biz_opaque_callback_data": "x" * 513}, 100),
        ({**text(), "context": {"id": "wamid.X"}}, 100),
    ],
)
async def test_invalid_requests_get_metas_codes(
    sandbox: Client, body: dict[str, Any], code: int
) -> None:
    response = await sandbox.send(body)
    assert response.status_code == 400
    assert error_of(response)["code"] == code


@pytest.mark.parametrize(
    "body",
    [
        {"to": TO, "type": "image", "image": {"link": "https://example.com/a.png", "caption": "c"}},
        {"to": TO, "type": "video", "video": {"id": "123"}},
        {"to": TO, "type": "audio", "audio": {"id": "123"}},
        {"to": TO, "type": "document", "document": {"link": "https://e.com/a.pdf", "caption": "c"}},
        {"to": TO, "type": "sticker", "sticker": {"id": "123"}},
        {**text(), "context": {"message_id": "wamid.PREV"}, "biz_opaque_callback_data": "x" * 512},
    ],
)
async def test_every_supported_kind_is_accepted(sandbox: Client, body: dict[str, Any]) -> None:
    await sandbox.configure({"pair_limit": {"per_seconds": 0}})
    response = await sandbox.send(body)
    assert response.status_code == 200, response.text
    assert "message_status" not in response.json()["messages"][0]


BODY_1 = [{"type": "body", "parameters": [{"type": "text", "text": "A"}]}]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (template("no_such_template"), 404, 132001),
        (template("order_update", BODY_1, lang="de_DE"), 404, 132001),
        (template("order_update"), 400, 132000),
        (
            template(
                "order_update",
                [{"type": "body", "parameters": [{"type": "text", "text": "A"}] * 2}],
            ),
            400,
            132000,
        ),
        (template("hello_world", BODY_1), 400, 132000),
        (
            template(
                "order_update",
                [{"type": "body", "parameters": [{"type": "image", "image": {"id": "1"}}]}],
            ),
            400,
            132012,
        ),
        (
            template(
                "order_named",
                [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "A"},
                            {"type": "text", "text": "B"},
                        ],
                    }
                ],
            ),
            400,
            132012,
        ),
        (
            template(
                "order_update",
                [
                    {
                        "type": "body",
                        "parameters": [{"type": "text", "text": "A", "parameter_name": "x"}],
                    }
                ],
            ),
            400,
            132012,
        ),
        (
            template(
                "order_shipped",
                [
                    {"type": "header", "parameters": [{"type": "text", "text": "no image"}]},
                    {"type": "body", "parameters": [{"type": "text", "text": "A"}] * 2},
                    {
                        "type": "button",
                        "sub_type": "url",
                        "index": "0",
                        "parameters": [{"type": "text", "text": "x"}],
                    },
                ],
            ),
            400,
            132012,
        ),
    ],
)
async def test_template_checks(
    sandbox: Client, body: dict[str, Any], status: int, code: int
) -> None:
    response = await sandbox.send(body)
    assert response.status_code == status
    assert error_of(response)["code"] == code


async def test_a_complete_template_is_accepted(sandbox: Client) -> None:
    await sandbox.configure({"pair_limit": {"per_seconds": 0}})
    shipped = template(
        "order_shipped",
        [
            {
                "type": "header",
                "parameters": [{"type": "image", "image": {"link": "https://e.com/a.png"}}],
            },
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Ana"},
                    {
                        "type": "currency",
                        "currency": {"fallback_value": "$1", "code": "USD", "amount_1000": 1000},
                    },
                ],
            },
            {
                "type": "button",
                "sub_type": "url",
                "index": "0",
                "parameters": [{"type": "text", "text": "track/1"}],
            },
        ],
    )
    named = template(
        "order_named",
        [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "A-1", "parameter_name": "order_id"},
                    {"type": "text", "text": "Ana", "parameter_name": "customer"},
                ],
            }
        ],
    )
    for body in (shipped, named):
        response = await sandbox.send(body)
        assert response.status_code == 200, response.text
