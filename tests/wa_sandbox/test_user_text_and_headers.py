"""What the sandbox builds from a user's or a client's text stays valid HTTP, and its
control calls refuse what cannot be a user's message: a document name with CR/LF is served
(RFC 6266 ``filename*``), a sender with no digits, a text-less message and a tap without
``to_wamid`` are 400, and a media id is sent only from the number that holds it (131053)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

import pytest
from tests.wa_sandbox.conftest import PHONE_ID, TOKEN, Client, Receiver
from tests.wa_sandbox.test_media import USER, _image, _open_window, upload

AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECOND_ID = "100000000000002"


async def _inbound_document(sandbox: Client, filename: str, mime_type: str) -> dict[str, Any]:
    sent = await sandbox.http.post(
        "/_sandbox/inbound",
        json={
            "from": USER,
            "message": {"type": "document", "document": {"caption": "scan"}},
            "media": {
                "content_base64": base64.b64encode(b"%PDF-1.4 scan").decode(),
                "mime_type": mime_type,
                "filename": filename,
            },
        },
    )
    assert sent.status_code == 200, sent.text
    info = await sandbox.http.get(f"/v21.0/{sent.json()['media_id']}", headers=AUTH)
    assert info.status_code == 200, info.text
    body: dict[str, Any] = info.json()
    return body


@pytest.mark.parametrize(
    "filename",
    ["bill\r\nX-Injected: 1.pdf", 'quote " and \\ back.pdf', "facture été 😀.pdf", "nul\x00.pdf"],
)
async def test_a_document_name_of_any_characters_is_downloadable(
    sandbox: Client, filename: str
) -> None:
    info = await _inbound_document(sandbox, filename, "application/pdf")
    got = await sandbox.http.get(info["url"], headers=AUTH)
    assert got.status_code == 200, got.text
    assert got.content == b"%PDF-1.4 scan"
    assert "x-injected" not in got.headers
    disposition = got.headers["content-disposition"]
    assert disposition.isascii()
    assert "\r" not in disposition
    assert "\n" not in disposition
    exact = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(exact) == filename


async def test_a_type_with_control_characters_is_served_safely(sandbox: Client) -> None:
    info = await _inbound_document(sandbox, "a.pdf", "application/pdf\r\nX-Injected: 1")
    got = await sandbox.http.get(info["url"], headers=AUTH)
    assert got.status_code == 200, got.text
    assert "x-injected" not in got.headers
    assert got.headers["content-type"].startswith("application/pdf")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"from": "abc", "text": "x"}, "'from'"),
        ({"from": "+-- ()", "text": "x"}, "'from'"),
        ({"from": "+14155550101"}, "'text'"),
        ({"from": "+14155550101", "text": "   "}, "'text'"),
        ({"from": "+14155550101", "text": 5}, "'text'"),
        ({"from": "+14155550101", "changed_number_to": "none"}, "'changed_number_to'"),
    ],
)
async def test_an_inbound_call_that_cannot_be_a_users_message_is_400(
    sandbox: Client, receiver: Receiver, body: dict[str, Any], says: str
) -> None:
    response = await sandbox.http.post("/_sandbox/inbound", json=body)
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]
    assert receiver.changes("messages") == []


async def test_a_text_from_a_number_is_still_delivered(sandbox: Client, receiver: Receiver) -> None:
    response = await sandbox.http.post(
        "/_sandbox/inbound", json={"from": "+1 (415) 555-0101", "text": "hello"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["message"]["from"] == USER
    assert response.json()["message"]["text"] == {"body": "hello"}


@pytest.mark.parametrize("body", [{}, {"to_wamid": None}, {"to_wamid": ""}, {"to_wamid": 7}])
async def test_a_tap_without_to_wamid_is_400(sandbox: Client, body: dict[str, Any]) -> None:
    response = await sandbox.http.post("/_sandbox/inbound/button", json=body)
    assert response.status_code == 400, response.text
    assert "'to_wamid'" in response.json()["error"]
    unknown = await sandbox.http.post(
        "/_sandbox/inbound/button", json={"to_wamid": "wamid.nothing"}
    )
    assert unknown.status_code == 404


async def test_media_sent_from_another_number_fails_with_131053(
    sandbox: Client, receiver: Receiver
) -> None:
    first = sandbox.running.sandbox.config.senders[0].model_dump()
    second = {**first, "phone_number_id": SECOND_ID, "display_phone_number": "15550100001"}
    assert (await sandbox.configure({"senders": [first, second]})).status_code == 200
    await _open_window(sandbox)
    await sandbox.http.post(
        "/_sandbox/inbound", json={"from": USER, "text": "hi", "to_phone_number_id": SECOND_ID}
    )
    media_id = (await upload(sandbox, phone_id=PHONE_ID)).json()["id"]

    theirs = await sandbox.send(_image(media_id), phone_id=SECOND_ID)
    assert theirs.status_code == 200, theirs.text
    mine = await sandbox.send(_image(media_id), phone_id=PHONE_ID)
    theirs_id, mine_id = theirs.json()["messages"][0]["id"], mine.json()["messages"][0]["id"]
    await receiver.wait_for(
        lambda: (
            len(receiver.statuses_of(theirs_id)) == 1 and len(receiver.statuses_of(mine_id)) == 3
        )
    )
    (failed,) = receiver.statuses_of(theirs_id)
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 131053
    assert {s["status"] for s in receiver.statuses_of(mine_id)} == {"sent", "delivered", "read"}
