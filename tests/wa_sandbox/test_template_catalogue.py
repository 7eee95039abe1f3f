"""GET /{version}/{waba_id}/message_templates over real HTTP: Meta's paging, definitions
and errors."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from tests.wa_sandbox.conftest import TOKEN, WABA_ID, Client
from tests.wa_sandbox.test_send_endpoint import error_of

from wa_sandbox.config import load


async def catalogue(
    sandbox: Client,
    *,
    token: str = TOKEN,
    waba_id: str = WABA_ID,
    **query: str,
) -> httpx.Response:
    return await sandbox.http.get(
        f"/v21.0/{waba_id}/message_templates",
        params=query,
        headers={"Authorization": f"Bearer {token}"},
    )


def configured() -> list[tuple[str, str]]:
    return [(t.name, t.language) for t in load(env={}).templates]


def by_name(data: list[dict[str, Any]], name: str, language: str = "en_US") -> dict[str, Any]:
    (found,) = [t for t in data if t["name"] == name and t["language"] == language]
    return found


async def test_paging_returns_every_template_once_in_config_order(sandbox: Client) -> None:
    pages: list[dict[str, Any]] = []
    response = await catalogue(sandbox, limit="2")
    while True:
        assert response.status_code == 200, response.text
        pages.append(response.json())
        following = response.json()["paging"].get("next")
        if following is None:
            break
        assert following.startswith(sandbox.running.url + "/v21.0/")  # absolute, like Meta's
        response = await sandbox.http.get(following, headers={"Authorization": f"Bearer {TOKEN}"})
    seen = [(t["name"], t["language"]) for page in pages for t in page["data"]]
    assert seen == configured()
    assert len(pages) == -(-len(configured()) // 2)
    assert all(len(page["data"]) == 2 for page in pages[:-1])
    assert "next" not in pages[-1]["paging"]
    assert "previous" not in pages[0]["paging"]
    assert all("previous" in page["paging"] for page in pages[1:])
    for page in pages:
        assert set(page["paging"]["cursors"]) == {"before", "after"}


async def test_before_pages_back(sandbox: Client) -> None:
    first = (await catalogue(sandbox, limit="3")).json()
    second = (await catalogue(sandbox, limit="3", after=first["paging"]["cursors"]["after"])).json()
    back = (
        await catalogue(sandbox, limit="3", before=second["paging"]["cursors"]["before"])
    ).json()
    assert [t["id"] for t in back["data"]] == [t["id"] for t in first["data"]]
    assert [t["id"] for t in second["data"]] != [t["id"] for t in first["data"]]


async def test_limit_defaults_to_25_and_is_capped_at_100(sandbox: Client) -> None:
    everything = (await catalogue(sandbox)).json()
    assert len(everything["data"]) == len(configured())
    assert "next" not in everything["paging"]
    many = [
        {"name": f"bulk_{i:03d}", "language": "en_US", "category": "utility"} for i in range(120)
    ]
    assert (await sandbox.configure({"templates": many})).status_code == 200
    default = (await catalogue(sandbox)).json()
    assert len(default["data"]) == 25
    capped = (await catalogue(sandbox, limit="1000")).json()
    assert len(capped["data"]) == 100
    assert "limit=100" in capped["paging"]["next"]
    rest = (
        await sandbox.http.get(
            capped["paging"]["next"], headers={"Authorization": f"Bearer {TOKEN}"}
        )
    ).json()
    assert [t["name"] for t in capped["data"] + rest["data"]] == [t["name"] for t in many]
    assert "next" not in rest["paging"]


async def test_fields_select_what_is_returned(sandbox: Client) -> None:
    page = (await catalogue(sandbox, fields="name,status", limit="3")).json()
    assert [set(t) for t in page["data"]] == [{"id", "name", "status"}] * 3
    following = (
        await sandbox.http.get(page["paging"]["next"], headers={"Authorization": f"Bearer {TOKEN}"})
    ).json()
    assert set(following["data"][0]) == {"id", "name", "status"}


async def test_ids_are_stable_numeric_strings(sandbox: Client) -> None:
    data = (await catalogue(sandbox)).json()["data"]
    ids = [t["id"] for t in data]
    assert all(re.fullmatch(r"[1-9][0-9]{14}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids == [t.id for t in load(env={}).templates]  # derived again, the same


async def test_positional_named_and_media_header_definitions(sandbox: Client) -> None:
    data = (await catalogue(sandbox)).json()["data"]
    shipped = by_name(data, "order_shipped")
    assert shipped["status"] == "APPROVED"
    assert shipped["category"] == "UTILITY"
    assert shipped["parameter_format"] == "POSITIONAL"
    header, body, buttons = shipped["components"]
    assert header == {"type": "HEADER", "format": "IMAGE"}
    assert body["type"] == "BODY"
    assert body["text"] == "Hi {{1}}, your order {{2}} is on its way."
    assert buttons == {
        "type": "BUTTONS",
        "buttons": [
            {
                "type": "URL",
                "text": "Track",
                "url": "https://example.com/track/{{1}}",
                "example": ["https://example.com/track/sample"],
            }
        ],
    }
    named = by_name(data, "order_named")
    assert named["parameter_format"] == "NAMED"
    (named_body,) = named["components"]
    assert re.findall(r"\{\{(\w+)\}\}", named_body["text"]) == ["customer", "order_id"]


async def test_quick_reply_and_text_header_definition(sandbox: Client) -> None:
    reminder = by_name((await catalogue(sandbox)).json()["data"], "appointment_reminder")
    assert [c["type"] for c in reminder["components"]] == ["HEADER", "BODY", "FOOTER", "BUTTONS"]
    header = reminder["components"][0]
    assert (header["format"], header["text"]) == ("TEXT", "Appointment on {{1}}")
    assert reminder["components"][2] == {"type": "FOOTER", "text": "Reply STOP to opt out"}
    assert reminder["components"][3]["buttons"] == [
        {"type": "QUICK_REPLY", "text": "Confirm"},
        {"type": "QUICK_REPLY", "text": "Cancel"},
    ]


async def test_otp_and_copy_code_definitions(sandbox: Client) -> None:
    data = (await catalogue(sandbox)).json()["data"]
    otp = by_name(data, "otp_code")
    assert otp["category"] == "AUTHENTICATION"
    body, buttons = otp["components"]
    assert body["text"] == "*{{1}}* is your verification code."
    assert buttons["buttons"] == [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]
    coupon = by_name(data, "coupon_offer")
    assert coupon["category"] == "MARKETING"
    assert coupon["components"][-1]["buttons"] == [{"type": "COPY_CODE", "example": "SAVE10"}]


async def test_texts_left_out_are_generated_with_their_variables(sandbox: Client) -> None:
    await sandbox.configure(
        {
            "templates": [
                {
                    "name": "bare",
                    "language": "pt_BR",
                    "category": "utility",
                    "components": [
                        {"type": "header", "format": "text", "parameters": 1},
                        {"type": "body", "parameters": 3},
                        {"type": "footer"},
                        {"type": "button", "sub_type": "url", "index": 1, "parameters": 1},
                        {"type": "button", "sub_type": "quick_reply", "index": 0},
                    ],
                }
            ]
        }
    )
    (bare,) = (await catalogue(sandbox)).json()["data"]
    header, body, footer, buttons = bare["components"]
    assert re.findall(r"\{\{\w+\}\}", header["text"]) == ["{{1}}"]
    assert re.findall(r"\{\{\w+\}\}", body["text"]) == ["{{1}}", "{{2}}", "{{3}}"]
    assert footer["type"] == "FOOTER"
    assert footer["text"]
    assert [b["type"] for b in buttons["buttons"]] == ["QUICK_REPLY", "URL"]  # index order
    assert buttons["buttons"][1]["url"].endswith("{{1}}")


async def test_a_text_that_disagrees_with_its_parameters_is_refused(sandbox: Client) -> None:
    bad = {
        "name": "bad",
        "language": "en_US",
        "category": "utility",
        "components": [{"type": "body", "parameters": 2, "text": "Only {{1}}"}],
    }
    response = await sandbox.configure({"templates": [bad]})
    assert response.status_code == 400
    assert len((await catalogue(sandbox)).json()["data"]) == len(configured())


async def test_a_wrong_token_is_190(sandbox: Client) -> None:
    response = await catalogue(sandbox, token="nope")
    assert response.status_code == 401
    assert error_of(response)["code"] == 190


async def test_an_expired_token_is_190_subcode_463(sandbox: Client) -> None:
    sender = sandbox.running.sandbox.config.senders[0].model_dump() | {"token_expired": True}
    await sandbox.configure({"senders": [sender]})
    response = await catalogue(sandbox)
    assert response.status_code == 401
    error = error_of(response)
    assert (error["code"], error["error_subcode"]) == (190, 463)


async def test_another_waba_is_100(sandbox: Client) -> None:
    response = await catalogue(sandbox, waba_id="299999999999999")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == 100
    assert "Unsupported get request" in error["message"]


@pytest.mark.parametrize(
    "query", [{"after": "not-a-cursor"}, {"before": "bm9wZQ"}, {"limit": "0"}, {"limit": "x"}]
)
async def test_bad_cursors_and_limits_are_100(sandbox: Client, query: dict[str, str]) -> None:
    response = await catalogue(sandbox, **query)
    assert response.status_code == 400
    assert error_of(response)["code"] == 100
