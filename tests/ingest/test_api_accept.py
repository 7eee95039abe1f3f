"""POST /v1/notifications and /batch over HTTP against running services: every message
kind, the options, idempotency, and batches."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack, recipient
from tests.e2e.api import hello, open_window, post, sandbox_sends, wait_status
from tests.e2e.services import Services

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("extra", "cloud_type", "expected"),
    [
        (
            {"text": {"body": "Hi https://e.com", "preview_url": True}},
            "text",
            {"body": "Hi https://e.com", "preview_url": True},
        ),
        (
            {"image": {"link": "https://e.com/a.png", "caption": "look"}},
            "image",
            {"link": "https://e.com/a.png", "caption": "look"},
        ),
        # By link: a media id must be one Meta holds (an upload: tests/e2e/test_media.py).
        ({"video": {"link": "https://e.com/v.mp4"}}, "video", {"link": "https://e.com/v.mp4"}),
        ({"audio": {"link": "https://e.com/a.ogg"}}, "audio", {"link": "https://e.com/a.ogg"}),
        (
            {
                "document": {
                    "link": "https://e.com/i.pdf",
                    "filename": "invoice.pdf",
                    "caption": "c",
                }
            },
            "document",
            {"link": "https://e.com/i.pdf", "filename": "invoice.pdf", "caption": "c"},
        ),
        (
            {"sticker": {"link": "https://e.com/s.webp"}},
            "sticker",
            {"link": "https://e.com/s.webp"},
        ),
    ],
)
def test_every_free_form_kind_reaches_meta_as_sent(
    stack: Stack,
    services: Services,
    api_key: str,
    extra: dict[str, Any],
    cloud_type: str,
    expected: dict[str, Any],
) -> None:
    to = recipient()
    open_window(services, stack.database_url, to)
    response = post(services, api_key, {"to": to, **extra, "context": {"message_id": "wamid.PREV"}})
    assert response.status_code == 202, response.text
    nid = response.json()["id"]
    wait_status(services, api_key, nid, "read", timeout=15)
    (send,) = sandbox_sends(services, nid)
    assert send["body"]["type"] == cloud_type
    assert send["body"][cloud_type] == expected
    assert send["body"]["context"] == {"message_id": "wamid.PREV"}
    assert send["body"]["biz_opaque_callback_data"] == nid


def test_template_with_header_media_buttons_and_named_parameters(
    services: Services, api_key: str
) -> None:
    shipped = {
        "to": recipient(),
        "template": {
            "name": "order_shipped",
            "language": "en_US",
            "components": [
                {
                    "type": "header",
                    "parameters": [{"type": "image", "image": {"link": "https://e.com/a.png"}}],
                },
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Ana"},
                        {"type": "text", "text": "A-1"},
                    ],
                },
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [{"type": "text", "text": "t/1"}],
                },
            ],
        },
    }
    named = {
        "to": recipient(),
        "template": {
            "name": "order_named",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "parameter_name": "customer", "text": "Ana"},
                        {"type": "text", "parameter_name": "order_id", "text": "A-1"},
                    ],
                }
            ],
        },
    }
    for body in (shipped, named):
        nid = post(services, api_key, body).json()["id"]
        wait_status(services, api_key, nid, "read", timeout=15)
        (send,) = sandbox_sends(services, nid)
        assert send["body"]["template"]["components"] == body["template"]["components"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "+1555", "text": {"body": "x"}}, "to"),
        ({"to": "+14155550100", "text": {"body": "x"}, "biz_opaque_callback_data": "mine"}, None),
        ({"to": "+14155550100", "image": {"id": "1", "link": "https://e.com/a.png"}}, "image"),
        ({"to": "+14155550100", "audio": {"id": "1", "caption": "no"}}, None),
        (
            {"to": "+14155550100", "text": {"body": "x"}, "metadata": {"blob": "x" * 5000}},
            "metadata",
        ),
        ({"to": "+14155550100", "text": {"body": "x"}, "send_at": "2099-01-01T00:00:00Z"}, None),
        (
            {"to": "+14155550100", "text": {"body": "x"}, "send_at": "2026-12-01T10:00:00"},
            "send_at",
        ),
        (
            {
                "to": "+14155550100",
                "text": {"body": "x"},
                "ttl_seconds": 5,
                "expires_at": "2099-01-01T00:00:00Z",
            },
            None,
        ),
        ({"to": "+14155550100", "text": {"body": "x"}, "callback_url": "ftp://x"}, "callback_url"),
        (
            {
                "to": "+14155550100",
                "text": {"body": "x"},
                "callback_url": "http://127.0.0.1:99999/x",
            },
            "callback_url",
        ),
        (
            {"to": "+14155550100", "text": {"body": "x"}, "callback_url": "http://127.0.0.1:0/x"},
            "callback_url",
        ),
        (
            {"to": "+14155550100", "text": {"body": "x"}, "callback_url": "http://[::1/x"},
            "callback_url",
        ),
        (
            {"to": "+14155550100", "text": {"body": "x"}, "callback_url": "http://:80/x"},
            "callback_url",
        ),
        ({"to": "+14155550100", "text": {"body": "x"}, "priority": "urgent"}, "priority"),
    ],
)
def test_invalid_requests_are_refused_with_the_field(
    services: Services, api_key: str, body: dict[str, Any], field: str | None
) -> None:
    response = post(services, api_key, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    if field is not None:
        assert error["field"].split(".")[0] == field
    assert error["fields"]


async def test_priority_metadata_and_callback_are_kept(
    services: Services, api_key: str, engine: AsyncEngine
) -> None:
    otp = {
        "to": recipient(),
        "template": {
            "name": "otp_code",
            "language": "en_US",
            "category": "authentication",
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [{"type": "text", "text": "123456"}],
                },
            ],
        },
        "metadata": {"order": 7},
        "callback_url": "https://client.example/hooks",
    }
    nid = post(services, api_key, otp).json()["id"]
    normal = post(services, api_key, hello(recipient())).json()["id"]
    async with engine.connect() as conn:
        rows = {
            str(r.id): r
            for r in await conn.execute(
                text(
                    "SELECT id, priority, callback_url FROM ingest.notifications WHERE id IN (:a, :b)"
                ),
                {"a": nid, "b": normal},
            )
        }
        queues = {
            r.queue
            for r in await conn.execute(
                text("SELECT queue FROM ingest.outbox WHERE body::jsonb->>'notification_id' = :a"),
                {"a": nid},
            )
        }
    assert rows[nid].priority == "high"
    assert rows[normal].priority == "normal"
    assert rows[nid].callback_url == "https://client.example/hooks"
    assert "dispatch_high" in queues
    view = await asyncio.to_thread(wait_status, services, api_key, nid, "read", 15)
    assert view["metadata"] == {"order": 7}
    assert view["priority"] == "high"
    (send,) = sandbox_sends(services, nid)
    assert "category" not in send["body"]["template"]  # our hint never reaches Meta


def test_send_at_within_15_minutes_uses_the_queue_delay(services: Services, api_key: str) -> None:
    send_at = datetime.now(UTC) + timedelta(seconds=4)
    body = hello(recipient()) | {"send_at": send_at.isoformat()}
    answer = post(services, api_key, body).json()
    assert answer["status"] == "scheduled"
    nid = answer["id"]
    assert wait_status(services, api_key, nid, "scheduled", timeout=5)["send_at"]
    view = wait_status(services, api_key, nid, "read", timeout=20)
    (send,) = sandbox_sends(services, nid)
    received = datetime.fromisoformat(send["received_at"])
    assert received >= send_at - timedelta(seconds=1), (received, send_at)
    assert [h["status"] for h in view["history"]][:2] == ["accepted", "scheduled"]


async def test_far_schedules_wait_in_the_outbox_and_survive_a_restart(
    services: Services, api_key: str, engine: AsyncEngine
) -> None:
    send_at = datetime.now(UTC) + timedelta(days=2)
    nid = post(services, api_key, hello(recipient()) | {"send_at": send_at.isoformat()}).json()[
        "id"
    ]
    select_row = text(
        "SELECT id, published_at, available_at FROM ingest.outbox "
        "WHERE queue = 'dispatch' AND body::jsonb->>'notification_id' = :id"
    )
    async with engine.connect() as conn:
        row = (await conn.execute(select_row, {"id": nid})).one()
    assert row.published_at is None
    assert row.available_at > datetime.now(UTC) + timedelta(days=1)
    services.signal("ingest")  # a restart while it waits
    services.start("ingest")
    # Time passes (we move the row's clock instead of waiting two days).
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE ingest.outbox SET available_at = now(), deliver_at = now() + interval '1 second' "
                "WHERE id = :id"
            ),
            {"id": row.id},
        )
    await asyncio.to_thread(wait_status, services, api_key, nid, "read", 20)
    assert len(sandbox_sends(services, nid)) == 1


def test_idempotency_key_replays_and_refuses_a_different_body(
    services: Services, api_key: str
) -> None:
    body = hello(recipient())
    headers = {"X-API-Key": api_key, "Idempotency-Key": f"order-{time.time_ns()}"}
    url = services.url("ingest") + "/v1/notifications"
    first = httpx.post(url, json=body, headers=headers)
    again = httpx.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    other = httpx.post(url, json=hello(recipient()), headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


async def test_fifty_parallel_duplicates_make_one_notification(
    services: Services, api_key: str, engine: AsyncEngine
) -> None:
    to = recipient()
    headers = {"X-API-Key": api_key, "Idempotency-Key": f"burst-{time.time_ns()}"}
    async with httpx.AsyncClient(base_url=services.url("ingest"), timeout=30) as client:
        answers = await asyncio.gather(
            *(client.post("/v1/notifications", json=hello(to), headers=headers) for _ in range(50))
        )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["id"] for a in answers}) == 1
    async with engine.connect() as conn:
        count = (
            await conn.execute(
                text('SELECT count(*) FROM ingest.notifications WHERE "to" = :to'), {"to": to}
            )
        ).scalar_one()
    assert count == 1
    nid = answers[0].json()["id"]
    await asyncio.to_thread(wait_status, services, api_key, nid, "read", 15)
    assert len(sandbox_sends(services, nid)) == 1


def test_batch_answers_in_order_and_accepts_the_valid_items(
    services: Services, api_key: str
) -> None:
    items = [hello(recipient()), {"to": "nope", "text": {"body": "x"}}, hello(recipient())]
    response = httpx.post(
        services.url("ingest") + "/v1/notifications/batch",
        json={"notifications": items},
        headers={"X-API-Key": api_key},
    )
    assert response.status_code == 202
    results = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert results[1]["error"]["field"] == "to"
    for r in (results[0], results[2]):
        wait_status(services, api_key, r["id"], "read", timeout=15)


def test_batch_limits(services: Services, api_key: str) -> None:
    url = services.url("ingest") + "/v1/notifications/batch"
    headers = {"X-API-Key": api_key}
    too_many = httpx.post(url, json={"notifications": [{}] * 1001}, headers=headers)
    assert too_many.status_code == 422
    empty = httpx.post(url, json={"notifications": []}, headers=headers)
    assert empty.status_code == 422
