"""The media API over real HTTP: upload, retrieve, download, delete, expiry, and media sends."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
import pytest
from tests.wa_sandbox.conftest import PHONE_ID, TOKEN, Client, Receiver

AUTH = {"Authorization": f"Bearer {TOKEN}"}
JPEG = b"\xff\xd8\xff\xe0" + b"sandbox jpeg" * 100
USER = "14155550101"


async def upload(
    sandbox: Client,
    content: bytes = JPEG,
    mime: str = "image/jpeg",
    *,
    token: str = TOKEN,
    phone_id: str = PHONE_ID,
    data: dict[str, str] | None = None,
) -> httpx.Response:
    fields = {"messaging_product": "whatsapp", "type": mime} if data is None else data
    return await sandbox.http.post(
        f"/v21.0/{phone_id}/media",
        files={"file": ("upload.bin", content, mime)},
        data=fields,
        headers={"Authorization": f"Bearer {token}"},
    )


def code_of(response: httpx.Response) -> int:
    code: int = response.json()["error"]["code"]
    return code


async def test_upload_retrieve_download_round_trip(sandbox: Client) -> None:
    uploaded = await upload(sandbox)
    assert uploaded.status_code == 200, uploaded.text
    media_id = uploaded.json()["id"]
    assert set(uploaded.json()) == {"id"}
    assert media_id.isdigit()

    info = await sandbox.http.get(f"/v21.0/{media_id}", headers=AUTH)
    assert info.status_code == 200
    body = info.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["id"] == media_id
    assert body["mime_type"] == "image/jpeg"
    assert body["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert body["file_size"] == len(JPEG)
    assert body["url"].startswith("http://127.0.0.1:")

    downloaded = await sandbox.http.get(body["url"], headers=AUTH)
    assert downloaded.status_code == 200
    assert downloaded.content == JPEG
    assert downloaded.headers["Content-Type"] == "image/jpeg"


async def test_download_needs_the_token(sandbox: Client) -> None:
    media_id = (await upload(sandbox)).json()["id"]
    url = (await sandbox.http.get(f"/v21.0/{media_id}", headers=AUTH)).json()["url"]
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        refused = await sandbox.http.get(url, headers=headers)
        assert refused.status_code == 401
        assert code_of(refused) == 190


async def test_a_forged_download_url_is_404(sandbox: Client) -> None:
    media_id = (await upload(sandbox)).json()["id"]
    url = (await sandbox.http.get(f"/v21.0/{media_id}", headers=AUTH)).json()["url"]
    forged = url.replace("hash=", "hash=0")
    assert (await sandbox.http.get(forged, headers=AUTH)).status_code == 404


@pytest.mark.parametrize(
    ("token", "phone_id", "status", "code"),
    [("nope", PHONE_ID, 401, 190), (TOKEN, "999999999999999", 400, 100)],
)
async def test_upload_is_authenticated_as_a_send(
    sandbox: Client, token: str, phone_id: str, status: int, code: int
) -> None:
    response = await upload(sandbox, token=token, phone_id=phone_id)
    assert response.status_code == status
    assert code_of(response) == code


@pytest.mark.parametrize(
    ("mime", "size", "accepted"),
    [
        ("image/jpeg", 5 * 1024 * 1024, True),
        ("image/jpeg", 5 * 1024 * 1024 + 1, False),
        ("image/webp", 500 * 1024, True),
        ("image/webp", 500 * 1024 + 1, False),
        ("audio/ogg", 16 * 1024 * 1024 + 1, False),
        ("application/pdf", 6 * 1024 * 1024, True),
    ],
)
async def test_size_limits_per_type(sandbox: Client, mime: str, size: int, accepted: bool) -> None:
    response = await upload(sandbox, b"x" * size, mime)
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400
        assert code_of(response) == 100
        assert "File Too Large" in response.json()["error"]["error_data"]["details"]


@pytest.mark.parametrize("mime", ["image/gif", "application/octet-stream", "video/quicktime"])
async def test_unsupported_types_are_refused(sandbox: Client, mime: str) -> None:
    response = await upload(sandbox, b"data", mime)
    assert response.status_code == 400
    assert code_of(response) == 100
    assert f"Received file of type '{mime}'" in response.json()["error"]["error_data"]["details"]


@pytest.mark.parametrize(
    "data",
    [{"type": "image/jpeg"}, {"messaging_product": "whatsapp"}],
)
async def test_upload_needs_messaging_product_and_type(
    sandbox: Client, data: dict[str, str]
) -> None:
    response = await upload(sandbox, data=data)
    assert response.status_code == 400
    assert code_of(response) == 100


async def test_delete_forgets_the_media(sandbox: Client) -> None:
    media_id = (await upload(sandbox)).json()["id"]
    url = (await sandbox.http.get(f"/v21.0/{media_id}", headers=AUTH)).json()["url"]
    deleted = await sandbox.http.delete(f"/v21.0/{media_id}", headers=AUTH)
    assert deleted.json() == {"success": True}
    again = await sandbox.http.get(f"/v21.0/{media_id}", headers=AUTH)
    assert again.status_code == 400
    assert (code_of(again), again.json()["error"]["error_subcode"]) == (100, 33)
    assert (await sandbox.http.get(url, headers=AUTH)).status_code == 404
    assert code_of(await sandbox.http.delete(f"/v21.0/{media_id}", headers=AUTH)) == 100


async def test_an_unknown_id_is_neither_media_nor_number(sandbox: Client) -> None:
    response = await sandbox.http.get("/v21.0/1234567890123456", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["error_subcode"] == 33
    number = await sandbox.http.get(f"/v21.0/{PHONE_ID}", headers=AUTH)
    assert number.json()["id"] == PHONE_ID  # the same route still serves phone numbers


async def test_media_expires(sandbox: Client) -> None:
    await sandbox.configure({"media": {"upload_ttl_seconds": 0.3}})
    media_id = (await upload(sandbox)).json()["id"]
    assert (await sandbox.http.get(f"/v21.0/{media_id}", headers=AUTH)).status_code == 200
    await asyncio.sleep(0.4)
    expired = await sandbox.http.get(f"/v21.0/{media_id}", headers=AUTH)
    assert (expired.status_code, code_of(expired)) == (400, 100)


async def test_media_is_only_the_owning_numbers(sandbox: Client) -> None:
    media_id = (await upload(sandbox)).json()["id"]
    response = await sandbox.http.get(
        f"/v21.0/{media_id}", params={"phone_number_id": "100000000000009"}, headers=AUTH
    )
    assert code_of(response) == 100


async def test_the_default_config_keeps_uploads_30_days(sandbox: Client) -> None:
    config = (await sandbox.http.get("/_sandbox/config")).json()
    assert config["media"]["upload_ttl_seconds"] == 30 * 86_400
    assert config["media"]["inbound_ttl_seconds"] == 7 * 86_400


# --- media sends ---------------------------------------------------------------------------


async def _open_window(sandbox: Client) -> None:
    await sandbox.http.post("/_sandbox/inbound", json={"from": USER, "text": "hi"})


def _image(media_id: str) -> dict[str, Any]:
    return {"to": USER, "type": "image", "image": {"id": media_id, "caption": "your receipt"}}


async def test_an_uploaded_image_is_sent(sandbox: Client, receiver: Receiver) -> None:
    await _open_window(sandbox)
    media_id = (await upload(sandbox)).json()["id"]
    wamid = (await sandbox.send(_image(media_id))).json()["messages"][0]["id"]
    await receiver.wait_for(lambda: len(receiver.statuses_of(wamid)) == 3)
    assert {s["status"] for s in receiver.statuses_of(wamid)} == {"sent", "delivered", "read"}


async def test_an_unknown_media_id_fails_later_with_131053(
    sandbox: Client, receiver: Receiver
) -> None:
    await _open_window(sandbox)
    response = await sandbox.send(_image("1111111111111111"))
    assert response.status_code == 200  # accepted: Meta finds out later
    wamid = response.json()["messages"][0]["id"]
    await receiver.wait_for(lambda: len(receiver.statuses_of(wamid)) == 1)
    (status,) = receiver.statuses_of(wamid)
    assert status["status"] == "failed"
    assert status["errors"][0]["code"] == 131053
    assert status["errors"][0]["title"] == "Media upload error"


async def test_a_deleted_media_id_fails_too(sandbox: Client, receiver: Receiver) -> None:
    await _open_window(sandbox)
    media_id = (await upload(sandbox)).json()["id"]
    await sandbox.http.delete(f"/v21.0/{media_id}", headers=AUTH)
    wamid = (await sandbox.send(_image(media_id))).json()["messages"][0]["id"]
    await receiver.wait_for(lambda: len(receiver.statuses_of(wamid)) == 1)
    assert receiver.statuses_of(wamid)[0]["errors"][0]["code"] == 131053


async def test_reset_forgets_media(sandbox: Client) -> None:
    media_id = (await upload(sandbox)).json()["id"]
    assert (await sandbox.http.get("/_sandbox/stats")).json()["media"] == 1
    await sandbox.http.post("/_sandbox/reset")
    assert (await sandbox.http.get(f"/v21.0/{media_id}", headers=AUTH)).status_code == 400
    assert (await sandbox.http.get("/_sandbox/stats")).json()["media"] == 0
