"""Media end to end, against the sandbox's media API over HTTP with real Redis and
PostgreSQL: a tenant uploads a PDF and sends it by id; the same bytes again reuse the id
without a second upload; what Meta would refuse is refused at the door without calling it;
a customer's photo is fetched through ingest byte for byte, and only by the tenant whose
customer sent it."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.account.keys import create_tenant_with_key
from ingest.media import form, limits
from ingest.media.download import allowed_url
from ingest.settings import IngestSettings
from notif_core.settings import CoreSettings
from tests.conftest import Stack, recipient
from tests.e2e.api import open_window, post, sandbox_sends, wait_status
from tests.e2e.services import Services

pytestmark = pytest.mark.e2e
SANDBOX_SENDER = CoreSettings().whatsapp_phone_number_id


def pdf(label: str) -> bytes:
    """A small PDF, different on every run (so an earlier run's upload is not reused)."""
    return b"%PDF-1.4\n% " + f"{label} {time.time_ns()}".encode() + b"\n" + os.urandom(512)


def upload(
    services: Services, key: str, content: bytes, mime_type: str, **fields: str
) -> httpx.Response:
    return httpx.post(
        services.url("ingest") + "/v1/media",
        files={"file": ("invoice.pdf", content, mime_type)},
        data=fields,
        headers={"X-API-Key": key},
        timeout=30,
    )


def fetch(services: Services, key: str, media_id: str) -> httpx.Response:
    return httpx.get(
        services.url("ingest") + f"/v1/media/{media_id}", headers={"X-API-Key": key}, timeout=30
    )


def held_media(services: Services) -> int:
    count: int = httpx.get(services.url("sandbox") + "/_sandbox/stats").json()["media"]
    return count


async def other_tenant(engine: AsyncEngine) -> str:
    """A key of another tenant, which holds a number of its own."""
    async with engine.begin() as conn:
        _, key = await create_tenant_with_key(
            conn,
            f"media-other-{time.time_ns()}",
            phone_number_ids=[f"7{time.time_ns() % 10**12:012d}"],
        )
    return key


def until(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


async def test_a_pdf_uploaded_once_is_sent_by_id_and_the_same_bytes_reuse_it(
    services: Services, api_key: str, stack: Stack, engine: AsyncEngine
) -> None:
    content = pdf("invoice")
    before = held_media(services)
    first = upload(services, api_key, content, "application/pdf")
    assert first.status_code == 200, first.text
    uploaded = first.json()
    assert uploaded["id"].isdigit()
    assert uploaded["deduplicated"] is False
    assert uploaded["sha256"] == hashlib.sha256(content).hexdigest()
    assert (uploaded["mime_type"], uploaded["file_size"]) == ("application/pdf", len(content))
    expires_at = datetime.fromisoformat(uploaded["expires_at"])
    assert abs(expires_at - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)
    assert held_media(services) == before + 1

    to = recipient()
    open_window(services, stack.database_url, to)
    sent = post(
        services, api_key, {"to": to, "document": {"id": uploaded["id"], "filename": "a.pdf"}}
    )
    assert sent.status_code == 202, sent.text
    nid = sent.json()["id"]
    wait_status(services, api_key, nid, "read", timeout=30)
    (message,) = sandbox_sends(services, nid)
    assert message["type"] == "document"
    assert message["body"]["document"]["id"] == uploaded["id"]

    again = upload(services, api_key, content, "application/pdf")
    assert again.status_code == 200, again.text
    assert again.json() == uploaded | {"deduplicated": True}
    assert held_media(services) == before + 1  # no second upload reached Meta

    other_bytes = upload(services, api_key, content + b" ", "application/pdf")
    assert other_bytes.status_code == 200, other_bytes.text
    assert other_bytes.json()["id"] != uploaded["id"]
    assert other_bytes.json()["deduplicated"] is False
    assert held_media(services) == before + 2

    mine = fetch(services, api_key, uploaded["id"])
    assert mine.status_code == 200, mine.text
    assert mine.content == content
    assert mine.headers["content-type"] == "application/pdf"

    stranger = await other_tenant(engine)
    assert fetch(services, stranger, uploaded["id"]).status_code == 404
    theirs = upload(services, stranger, content, "application/pdf", phone_number_id=SANDBOX_SENDER)
    assert theirs.status_code == 422, theirs.text
    assert theirs.json()["error"]["code"] == "unknown_sender"
    assert held_media(services) == before + 2


def test_what_meta_would_refuse_is_refused_without_calling_it(
    services: Services, api_key: str
) -> None:
    before = held_media(services)
    gif = upload(services, api_key, b"GIF89a" + os.urandom(64), "image/gif")
    assert gif.status_code == 422, gif.text
    assert gif.json()["error"]["code"] == "unsupported_media"
    assert gif.json()["error"]["field"] == "file"
    assert "image/gif" in gif.json()["error"]["message"]

    big = upload(services, api_key, b"\xff\xd8\xff" + os.urandom(5 * limits.MB), "image/jpeg")
    assert big.status_code == 413, big.text
    assert big.json()["error"]["code"] == "media_too_large"
    assert "5 MB" in big.json()["error"]["message"]

    sticker = upload(services, api_key, os.urandom(500 * limits.KB + 1), "image/webp")
    assert sticker.status_code == 413, sticker.text
    assert sticker.json()["error"]["code"] == "media_too_large"

    not_a_form = httpx.post(
        services.url("ingest") + "/v1/media", json={"file": "x"}, headers={"X-API-Key": api_key}
    )
    assert not_a_form.status_code == 415, not_a_form.text
    assert held_media(services) == before


async def test_a_customers_photo_is_fetched_through_ingest_by_its_tenant_only(
    services: Services, api_key: str, engine: AsyncEngine
) -> None:
    photo = b"\xff\xd8\xff\xe0" + os.urandom(40_000) + b"\xff\xd9"
    customer = recipient()
    sent_in = httpx.post(
        services.url("sandbox") + "/_sandbox/inbound",
        json={
            "from": customer,
            "message": {"type": "image", "image": {"caption": "my meter"}},
            "media": {
                "content_base64": base64.b64encode(photo).decode(),
                "mime_type": "image/jpeg",
            },
        },
    )
    assert sent_in.status_code == 200, sent_in.text
    media_id = sent_in.json()["media_id"]

    def listed() -> list[dict[str, Any]]:
        response = httpx.get(
            services.url("ingest") + "/v1/inbound",
            params={"from": customer},
            headers={"X-API-Key": api_key},
        )
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    (message,) = until(listed)
    assert (message["kind"], message["content"]["media_id"]) == ("image", media_id)

    got = fetch(services, api_key, media_id)
    assert got.status_code == 200, got.text
    assert got.content == photo
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["content-length"] == str(len(photo))

    stranger = await other_tenant(engine)
    refused = fetch(services, stranger, media_id)
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"
    assert fetch(services, api_key, "1" * 16).status_code == 404  # nobody's
    assert fetch(services, api_key, "12ab").status_code == 404
    assert fetch(services, api_key, "9" * 100).status_code == 404


async def test_meta_refusing_a_download_is_a_502_with_its_code(
    services: Services, api_key: str
) -> None:
    uploaded = upload(services, api_key, pdf("deleted"), "application/pdf")
    assert uploaded.status_code == 200, uploaded.text
    media_id = uploaded.json()["id"]
    settings = CoreSettings()
    deleted = httpx.delete(
        services.url("sandbox") + f"/{settings.whatsapp_api_version}/{media_id}",
        headers={"Authorization": f"Bearer {settings.whatsapp_access_token.get_secret_value()}"},
    )
    assert deleted.status_code == 200, deleted.text
    gone = fetch(services, api_key, media_id)
    assert gone.status_code == 502, gone.text
    assert gone.json()["error"]["code"] == "meta_error"
    assert gone.json()["error"]["meta_code"] == 100


def test_download_urls_are_followed_only_on_metas_host() -> None:
    meta = IngestSettings(whatsapp_api_base_url="https://graph.facebook.com")
    assert allowed_url(meta, "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1")
    assert allowed_url(meta, "https://graph.facebook.com/v23.0/123")
    for url in [
        "http://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",
        "https://lookaside.fbsbx.com:8443/x",
        "https://lookaside.fbsbx.com.evil.example/x",
        "https://user:pw@lookaside.fbsbx.com/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1:3000/metrics",
        "file:///etc/passwd",
        "//lookaside.fbsbx.com/x",
        "https://lookaside.fbsbx.com:99999/x",
    ]:
        assert not allowed_url(meta, url), url
    sandbox = IngestSettings(whatsapp_api_base_url="http://127.0.0.1:3900")
    assert allowed_url(sandbox, "http://127.0.0.1:3900/_media/1?ext=1&hash=x")
    assert not allowed_url(sandbox, "http://127.0.0.1:3901/_media/1")
    assert not allowed_url(sandbox, "https://lookaside.fbsbx.com/x")  # not Meta's deployment
    assert not allowed_url(sandbox, "http://localhost:3900/_media/1")


async def test_the_size_cap_holds_while_the_body_streams_in() -> None:
    """A 20 MB image is refused once past its 5 MB: the rest is never read."""
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    chunk = 64 * 1024
    read = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal read
        yield head
        for _ in range(20 * limits.MB // chunk):
            read += chunk
            yield b"\0" * chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    with pytest.raises(form.FormRefused) as refused:
        await form.read(f"multipart/form-data; boundary={boundary}", body())
    assert (refused.value.status, refused.value.code) == (413, "media_too_large")
    assert read <= 5 * limits.MB + chunk


def raw_form(parts: list[tuple[bytes, bytes]], content: bytes) -> tuple[bytes, str]:
    """A multipart body of fields named by raw bytes (any bytes a client may send), then
    a PDF in the part ``file``; and its Content-Type."""
    boundary = b"f0rmb0undary"
    body = b"".join(
        b"--"
        + boundary
        + b'\r\nContent-Disposition: form-data; name="'
        + name
        + b'"\r\n\r\n'
        + value
        + b"\r\n"
        for name, value in parts
    )
    body += (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; '
        b'filename="a.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
        + content
        + b"\r\n--"
        + boundary
        + b"--\r\n"
    )
    return body, "multipart/form-data; boundary=" + boundary.decode()


ODD_NAMES = [
    b"\xf4\x87\x89\x96:",  # UTF-8 of a code point beyond latin-1
    b"\xb0\x15*\xc2\x9f\xcd\ti",  # not UTF-8, with control characters
    b"\x13Iz#",
    b"\x13Iz#",  # repeated
    "ãD".encode(),
]


def test_form_fields_with_odd_names_are_ignored_or_refused_never_a_5xx(
    services: Services, api_key: str
) -> None:
    def post_form(parts: list[tuple[bytes, bytes]]) -> httpx.Response:
        body, content_type = raw_form(parts, pdf("odd-names"))
        return httpx.post(
            services.url("ingest") + "/v1/media",
            content=body,
            headers={"X-API-Key": api_key, "Content-Type": content_type},
            timeout=30,
        )

    ignored = post_form([(name, b"2232") for name in ODD_NAMES])
    assert ignored.status_code == 200, ignored.text
    assert ignored.json()["mime_type"] == "application/pdf"

    long_value = post_form([(ODD_NAMES[0], b"x" * (form.MAX_FIELD + 1))])
    assert long_value.status_code == 422, long_value.text
    assert long_value.json()["error"]["code"] == "validation_error"
    assert long_value.json()["error"]["field"] == "\U00107256:"

    too_many = post_form([(name, b"1") for name in ODD_NAMES * 2])
    assert too_many.status_code == 400, too_many.text
    assert too_many.json()["error"]["code"] == "invalid_form"


def delete_at_meta(services: Services, media_id: str) -> None:
    settings = CoreSettings()
    deleted = httpx.delete(
        services.url("sandbox") + f"/{settings.whatsapp_api_version}/{media_id}",
        headers={"Authorization": f"Bearer {settings.whatsapp_access_token.get_secret_value()}"},
    )
    assert deleted.status_code == 200, deleted.text


async def test_a_reused_id_is_one_meta_still_holds(services: Services, api_key: str) -> None:
    """Meta deleted the id (or lost it): the same bytes again are uploaded anew, never
    answered with the dead id, and the new id is the one reused from then on."""
    content = pdf("deleted-then-again")
    first = upload(services, api_key, content, "application/pdf")
    assert first.status_code == 200, first.text
    held = upload(services, api_key, content, "application/pdf")
    assert held.json() == first.json() | {"deduplicated": True}  # Meta confirmed it
    before = held_media(services)
    delete_at_meta(services, first.json()["id"])

    again = upload(services, api_key, content, "application/pdf")
    assert again.status_code == 200, again.text
    assert again.json()["deduplicated"] is False
    assert again.json()["id"] != first.json()["id"]
    assert held_media(services) == before  # one deleted, one uploaded
    third = upload(services, api_key, content, "application/pdf")
    assert third.json() == again.json() | {"deduplicated": True}
    assert held_media(services) == before


def test_an_empty_file_is_refused_without_calling_meta(services: Services, api_key: str) -> None:
    before = held_media(services)
    for mime_type in ("application/pdf", "image/jpeg", "text/plain"):
        empty = upload(services, api_key, b"", mime_type)
        assert empty.status_code == 422, empty.text
        assert empty.json()["error"]["code"] == "validation_error"
        assert empty.json()["error"]["field"] == "file"
    assert held_media(services) == before


async def test_another_tenants_upload_cannot_be_sent(
    services: Services, api_key: str, engine: AsyncEngine
) -> None:
    """An id one tenant uploaded is refused at the door for every other tenant (single
    and batch, media messages and interactive headers); an id the service never saw is
    left to Meta."""
    uploaded = upload(services, api_key, pdf("walled"), "application/pdf")
    assert uploaded.status_code == 200, uploaded.text
    media_id = uploaded.json()["id"]
    stranger = await other_tenant(engine)
    to = recipient()
    header = {
        "type": "button",
        "header": {"type": "document", "document": {"id": media_id}},
        "body": {"text": "Your invoice"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "ok", "title": "OK"}}]},
    }
    for kind, body, field in [
        ("document", {"document": {"id": media_id, "filename": "a.pdf"}}, "document.id"),
        ("image", {"image": {"id": media_id}}, "image.id"),
        ("interactive", {"interactive": header}, "interactive.header.document.id"),
    ]:
        sent = post(services, stranger, {"to": to} | body)
        assert sent.status_code == 422, (kind, sent.text)
        assert sent.json()["error"]["code"] == "media_not_yours"
        assert sent.json()["error"]["field"] == field

    never_seen = post(services, stranger, {"to": to, "document": {"id": "1" * 16}})
    assert never_seen.status_code == 202, never_seen.text

    batch = httpx.post(
        services.url("ingest") + "/v1/notifications/batch",
        json={
            "notifications": [
                {"to": to, "document": {"id": "2" * 16}},
                {"to": to, "sticker": {"id": media_id}},
            ]
        },
        headers={"X-API-Key": stranger},
        timeout=30,
    )
    assert batch.status_code == 202, batch.text
    ok, refused = batch.json()["results"]
    assert ok["status"] == "accepted"
    assert refused["status"] == "rejected"
    assert (refused["error"]["code"], refused["error"]["field"]) == (
        "media_not_yours",
        "sticker.id",
    )

    own = open_and_post(services, api_key, to, media_id)
    assert own.status_code == 202, own.text


def open_and_post(services: Services, key: str, to: str, media_id: str) -> httpx.Response:
    return post(services, key, {"to": to, "document": {"id": media_id, "filename": "a.pdf"}})


async def test_a_file_over_our_download_limit_is_our_refusal_not_metas(
    services: Services, api_key: str
) -> None:
    """A customer's sticker over 500 KB: Meta holds it, but ingest does not pass it on,
    and says so in its own code, without a Meta code."""
    customer = recipient()
    sticker = b"RIFF" + os.urandom(500 * limits.KB + 1)
    sent_in = httpx.post(
        services.url("sandbox") + "/_sandbox/inbound",
        json={
            "from": customer,
            "message": {"type": "sticker", "sticker": {}},
            "media": {
                "content_base64": base64.b64encode(sticker).decode(),
                "mime_type": "image/webp",
            },
        },
    )
    assert sent_in.status_code == 200, sent_in.text
    media_id = sent_in.json()["media_id"]

    def listed() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = httpx.get(
            services.url("ingest") + "/v1/inbound",
            params={"from": customer},
            headers={"X-API-Key": api_key},
        ).json()["items"]
        return items

    assert until(listed)
    got = fetch(services, api_key, media_id)
    assert got.status_code == 502, got.text
    error = got.json()["error"]
    assert error["code"] == "media_too_large_upstream"
    assert error.get("meta_code") is None
    assert "500 KB" in error["message"]
    assert "Meta refused" not in error["message"]
