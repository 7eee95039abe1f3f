"""Users send every kind of message Meta delivers: the webhook items have Meta's shapes."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from tests.wa_sandbox.conftest import TOKEN, Client, Receiver

USER = "14155550101"
BUSINESS_NUMBER = "15550001111"


def messages(receiver: Receiver) -> list[dict[str, Any]]:
    return [
        m
        for body in receiver.bodies()
        for entry in body["entry"]
        for change in entry["changes"]
        for m in change["value"].get("messages", [])
    ]


async def user_sends(
    sandbox: Client, receiver: Receiver, message: dict[str, Any], **extra: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The control call's answer and the webhook item that arrived for it."""
    response = await sandbox.http.post(
        "/_sandbox/inbound", json={"from": USER, "message": message, **extra}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    await receiver.wait_for(lambda: any(m["id"] == answer["wamid"] for m in messages(receiver)))
    (item,) = [m for m in messages(receiver) if m["id"] == answer["wamid"]]
    return answer, item


def common(item: dict[str, Any], kind: str) -> None:
    assert item["from"] == USER
    assert item["id"].startswith("wamid.")
    assert item["timestamp"].isdigit()
    assert item["type"] == kind


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"type": "text", "text": {"body": "Where is my order?"}}, {"body": "Where is my order?"}),
        (
            {"type": "button", "button": {"payload": "CONFIRM", "text": "Confirm"}},
            {"payload": "CONFIRM", "text": "Confirm"},
        ),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "button_reply",
                    "button_reply": {"id": "b1", "title": "Yes"},
                },
            },
            {"type": "button_reply", "button_reply": {"id": "b1", "title": "Yes"}},
        ),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "list_reply",
                    "list_reply": {"id": "r2", "title": "Express", "description": "1-2 days"},
                },
            },
            {
                "type": "list_reply",
                "list_reply": {"id": "r2", "title": "Express", "description": "1-2 days"},
            },
        ),
        (
            {
                "type": "location",
                "location": {
                    "latitude": 37.483307,
                    "longitude": -122.148981,
                    "name": "Pablo Morales",
                    "address": "1 Hacker Way, Menlo Park, CA 94025",
                },
            },
            {
                "latitude": 37.483307,
                "longitude": -122.148981,
                "name": "Pablo Morales",
                "address": "1 Hacker Way, Menlo Park, CA 94025",
            },
        ),
        (
            {
                "type": "contacts",
                "contacts": [
                    {
                        "name": {"formatted_name": "Barbara J. Johnson", "first_name": "Barbara"},
                        "phones": [{"phone": "+1 (940) 555-1234", "wa_id": "19405551234"}],
                    }
                ],
            },
            [
                {
                    "name": {"formatted_name": "Barbara J. Johnson", "first_name": "Barbara"},
                    "phones": [{"phone": "+1 (940) 555-1234", "wa_id": "19405551234"}],
                }
            ],
        ),
        (
            {"type": "reaction", "reaction": {"message_id": "wamid.ABC", "emoji": "\U0001f44d"}},
            {"message_id": "wamid.ABC", "emoji": "\U0001f44d"},
        ),
        (
            {"type": "reaction", "reaction": {"message_id": "wamid.ABC"}},
            {"message_id": "wamid.ABC"},
        ),
    ],
)
async def test_each_kind_has_metas_shape(
    sandbox: Client, receiver: Receiver, message: dict[str, Any], expected: Any
) -> None:
    answer, item = await user_sends(sandbox, receiver, message)
    common(item, message["type"])
    assert item[message["type"]] == expected
    assert "context" not in item
    assert answer["message"] == item


async def test_an_unsupported_message_carries_131051(sandbox: Client, receiver: Receiver) -> None:
    _, item = await user_sends(
        sandbox, receiver, {"type": "unsupported", "unsupported": {"type": "poll"}}
    )
    common(item, "unsupported")
    assert item["unsupported"] == {"type": "poll"}
    (error,) = item["errors"]
    assert error["code"] == 131051
    assert error["title"] == "Message type unknown"
    assert error["error_data"]["details"]


async def test_a_reply_names_the_message_replied_to(sandbox: Client, receiver: Receiver) -> None:
    _, item = await user_sends(
        sandbox,
        receiver,
        {
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "x", "title": "X"}},
        },
        context_id="wamid.REPLIED",
    )
    assert item["context"] == {"from": BUSINESS_NUMBER, "id": "wamid.REPLIED"}


@pytest.mark.parametrize(
    ("kind", "given", "mime", "flags"),
    [
        ("image", {"caption": "my receipt"}, "image/jpeg", {}),
        ("video", {}, "video/mp4", {}),
        ("audio", {"voice": True}, "audio/ogg; codecs=opus", {"voice": True}),
        ("audio", {}, "audio/ogg", {"voice": False}),
        ("document", {"caption": "invoice"}, "application/pdf", {}),
        ("sticker", {"animated": True}, "image/webp", {"animated": True}),
    ],
)
async def test_user_media_is_stored_and_retrievable(
    sandbox: Client,
    receiver: Receiver,
    kind: str,
    given: dict[str, Any],
    mime: str,
    flags: dict[str, Any],
) -> None:
    answer, item = await user_sends(sandbox, receiver, {"type": kind, kind: given})
    common(item, kind)
    media = item[kind]
    assert media["id"] == answer["media_id"]
    assert media["mime_type"] == mime
    for key, value in {
        **flags,
        **({"caption": given["caption"]} if "caption" in given else {}),
    }.items():
        assert media[key] == value
    auth = {"Authorization": f"Bearer {TOKEN}"}
    meta = (await sandbox.http.get(f"/v21.0/{media['id']}", headers=auth)).json()
    downloaded = await sandbox.http.get(meta["url"], headers=auth)
    assert downloaded.status_code == 200
    assert hashlib.sha256(downloaded.content).hexdigest() == media["sha256"] == meta["sha256"]
    assert downloaded.headers["Content-Type"] == mime


async def test_user_media_content_and_filename_are_kept(
    sandbox: Client, receiver: Receiver
) -> None:
    pdf = b"%PDF-1.4 the invoice"
    _, item = await user_sends(
        sandbox,
        receiver,
        {"type": "document", "document": {"caption": "March"}},
        media={
            "content_base64": base64.b64encode(pdf).decode(),
            "mime_type": "application/pdf",
            "filename": "invoice-march.pdf",
        },
    )
    document = item["document"]
    assert document["filename"] == "invoice-march.pdf"
    assert document["sha256"] == hashlib.sha256(pdf).hexdigest()
    downloaded = await sandbox.http.get(
        document["url"], headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert downloaded.content == pdf


async def test_a_duplicate_delivery_sends_the_same_item_twice(
    sandbox: Client, receiver: Receiver
) -> None:
    response = await sandbox.http.post(
        "/_sandbox/inbound", json={"from": USER, "text": "hello", "duplicate": True}
    )
    wamid = response.json()["wamid"]
    await receiver.wait_for(lambda: len(messages(receiver)) == 2)
    first, second = messages(receiver)
    assert first == second
    assert first["id"] == wamid
    assert len(receiver.posts) == 2  # two deliveries, not one batch
    assert receiver.all_signed()


async def test_without_the_flag_an_item_arrives_once(sandbox: Client, receiver: Receiver) -> None:
    await user_sends(sandbox, receiver, {"type": "text", "text": {"body": "once"}})
    await sandbox.http.post("/_sandbox/inbound", json={"from": USER, "text": "marker"})
    await receiver.wait_for(lambda: len(messages(receiver)) == 2)
    assert [m["text"]["body"] for m in messages(receiver)] == ["once", "marker"]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "hologram"},
        {"type": "text", "text": {}},
        {"type": "button", "button": {"payload": "P"}},
        {"type": "interactive", "interactive": {"type": "nope"}},
        {"type": "location", "location": {"latitude": "north", "longitude": 1}},
        {"type": "contacts", "contacts": [{"phones": []}]},
        {"type": "reaction", "reaction": {"emoji": "x"}},
        {"type": "audio", "audio": {"voice": "yes"}},
    ],
)
async def test_malformed_inbound_is_refused(
    sandbox: Client, receiver: Receiver, message: dict[str, Any]
) -> None:
    response = await sandbox.http.post("/_sandbox/inbound", json={"from": USER, "message": message})
    assert response.status_code == 400
    assert "error" in response.json()


async def test_every_kind_opens_the_window(sandbox: Client) -> None:
    await sandbox.configure(
        {"policy": {"window_failure": "sync"}, "pair_limit": {"per_seconds": 0}}
    )
    closed = await sandbox.send({"to": USER, "type": "text", "text": {"body": "hi"}})
    assert closed.json()["error"]["code"] == 131047
    await sandbox.http.post(
        "/_sandbox/inbound",
        json={
            "from": USER,
            "message": {"type": "location", "location": {"latitude": 1, "longitude": 2}},
        },
    )
    opened = await sandbox.send({"to": USER, "type": "text", "text": {"body": "hi"}})
    assert opened.status_code == 200, opened.text


# --- the quick-reply convenience -----------------------------------------------------------


async def _send_reminder(sandbox: Client, components: list[dict[str, Any]]) -> str:
    body_params = [{"type": "text", "text": "Ana"}, {"type": "text", "text": "10:00"}]
    response = await sandbox.send(
        {
            "to": USER,
            "type": "template",
            "template": {
                "name": "appointment_reminder",
                "language": {"code": "en_US"},
                "components": [
                    {"type": "header", "parameters": [{"type": "text", "text": "Monday"}]},
                    {"type": "body", "parameters": body_params},
                    *components,
                ],
            },
        }
    )
    assert response.status_code == 200, response.text
    wamid: str = response.json()["messages"][0]["id"]
    return wamid


async def test_a_tap_carries_the_payload_the_send_gave(sandbox: Client, receiver: Receiver) -> None:
    wamid = await _send_reminder(
        sandbox,
        [
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": "1",
                "parameters": [{"type": "payload", "payload": "CANCEL-42"}],
            }
        ],
    )
    response = await sandbox.http.post(
        "/_sandbox/inbound/button", json={"to_wamid": wamid, "index": 1}
    )
    assert response.status_code == 200, response.text
    tap = response.json()["wamid"]
    await receiver.wait_for(lambda: any(m["id"] == tap for m in messages(receiver)))
    (item,) = [m for m in messages(receiver) if m["id"] == tap]
    assert item["type"] == "button"
    assert item["from"] == USER
    assert item["button"] == {"payload": "CANCEL-42", "text": "Cancel"}
    assert item["context"] == {"from": BUSINESS_NUMBER, "id": wamid}


async def test_without_a_payload_the_payload_is_the_label(
    sandbox: Client, receiver: Receiver
) -> None:
    wamid = await _send_reminder(sandbox, [])
    response = await sandbox.http.post(
        "/_sandbox/inbound/button", json={"to_wamid": wamid, "index": 0}
    )
    assert response.json()["message"]["button"] == {"payload": "Confirm", "text": "Confirm"}


@pytest.mark.parametrize(("to_wamid", "index"), [("wamid.NEVER", 0), (None, 5)])
async def test_an_unknown_message_or_button_is_404(
    sandbox: Client, to_wamid: str | None, index: int
) -> None:
    wamid = to_wamid or await _send_reminder(sandbox, [])
    response = await sandbox.http.post(
        "/_sandbox/inbound/button", json={"to_wamid": wamid, "index": index}
    )
    assert response.status_code == 404


async def test_a_template_without_quick_replies_has_no_button_to_tap(sandbox: Client) -> None:
    sent = await sandbox.send(
        {
            "to": USER,
            "type": "template",
            "template": {"name": "hello_world", "language": {"code": "en_US"}},
        }
    )
    response = await sandbox.http.post(
        "/_sandbox/inbound/button", json={"to_wamid": sent.json()["messages"][0]["id"]}
    )
    assert response.status_code == 404
