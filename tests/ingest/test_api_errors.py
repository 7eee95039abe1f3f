"""Bad input and outages: clear errors that change nothing, and nothing acknowledged lost."""

from __future__ import annotations

import http.client
import json
import time

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import SANDBOX_SECRET, Stack, recipient
from tests.e2e.api import hello, post, wait_status
from tests.e2e.services import Services

from wa_sandbox.meta import sign

pytestmark = pytest.mark.e2e


def url(services: Services) -> str:
    return services.url("ingest") + "/v1/notifications"


def test_oversized_body_is_413(services: Services, api_key: str) -> None:
    body = json.dumps(hello(recipient()) | {"metadata": {"x": "y" * 300_000}})
    response = httpx.post(
        url(services),
        content=body,
        headers={"X-API-Key": api_key, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_wrong_content_type_is_415(services: Services, api_key: str) -> None:
    response = httpx.post(
        url(services), content=b"to=1", headers={"X-API-Key": api_key, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_malformed_json_is_400_with_the_position(services: Services, api_key: str) -> None:
    response = httpx.post(
        url(services),
        content=b'{"to": "+14155550100", "text": {"body": "x"',
        headers={"X-API-Key": api_key, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert isinstance(error["position"], int)


async def test_bad_webhook_signature_records_nothing(
    services: Services, engine: AsyncEngine
) -> None:
    marker = f"wamid.marker-{time.time_ns()}"
    body = (
        '{"object":"whatsapp_business_account","entry":[{"id":"' + marker + '","changes":[]}]}'
    ).encode()
    count = text("SELECT count(*) FROM ingest.webhook_inbox WHERE body = :body")
    async with httpx.AsyncClient() as client:
        forged = await client.post(
            services.url("ingest") + "/webhooks/whatsapp",
            content=body,
            headers={
                "X-Hub-Signature-256": sign("wrong", body),
                "Content-Type": "application/json",
            },
        )
        async with engine.connect() as conn:
            after_forged = (await conn.execute(count, {"body": body})).scalar_one()
        good = await client.post(
            services.url("ingest") + "/webhooks/whatsapp",
            content=body,
            headers={
                "X-Hub-Signature-256": sign(SANDBOX_SECRET, body),
                "Content-Type": "application/json",
            },
        )
    assert forged.status_code == 401
    assert after_forged == 0  # the forged one left no trace
    assert good.status_code == 200
    async with engine.connect() as conn:
        assert (await conn.execute(count, {"body": body})).scalar_one() == 1


def test_sqs_outage_still_accepts_and_delivers_after_recovery(
    stack: Stack, services: Services, api_key: str
) -> None:
    assert stack.local.sqs is not None
    stack.local.sqs.stop()
    try:
        response = post(services, api_key, hello(recipient()))
        assert response.status_code == 202
        nid = response.json()["id"]
    finally:
        stack.local.sqs.start()
    wait_status(services, api_key, nid, "read", timeout=45)


def test_database_outage_is_503_with_retry_after_fast(
    stack: Stack, services: Services, api_key: str
) -> None:
    assert stack.local.postgres is not None
    stack.local.postgres.stop()
    try:
        started = time.monotonic()
        response = httpx.post(
            url(services), json=hello(recipient()), headers={"X-API-Key": api_key}, timeout=10
        )
        elapsed = time.monotonic() - started
    finally:
        stack.local.postgres.start()
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "database_unavailable"
    assert elapsed < 3
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if post(services, api_key, hello(recipient())).status_code == 202:
            return
        time.sleep(0.2)
    raise AssertionError("ingest did not recover after the database came back")


def test_an_idle_connection_is_kept_past_a_proxys_pause(services: Services) -> None:
    """Uvicorn's default closes idle connections after 5 s; a proxy or client pausing longer
    than that would send its next request down a closing connection and get no answer."""
    conn = http.client.HTTPConnection("127.0.0.1", services.ports["ingest"], timeout=10)
    try:
        conn.request("GET", "/health")
        first = conn.getresponse()
        first.read()
        assert first.status == 200
        sock = conn.sock
        time.sleep(6)
        conn.request("GET", "/health")
        assert conn.sock is sock  # the same connection: http.client did not reconnect
        assert conn.getresponse().status == 200
    finally:
        conn.close()
