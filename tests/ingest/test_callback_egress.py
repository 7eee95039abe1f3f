"""``POST /v1/notifications`` refuses a callback URL the deployment may not call: 422
``callback_url_not_allowed`` naming ``callback_url``, for the URLs of the report (a metrics
port on loopback, the cloud metadata address, IPv6 loopback) and their other spellings, in
production (``CALLBACK_ALLOW_PRIVATE`` off). The app is built in-process with explicit
settings, since the test suite runs with the setting on; with it on, a loopback receiver is
accepted (local development). ``notifctl keys create --callback-url`` refuses the same."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import Stack, recipient
from tests.e2e.api import hello

from ingest.main import create_app
from ingest.settings import IngestSettings
from notif_local.ports import free_port

ISSUE_URLS = [
    "http://127.0.0.1:3001/metrics",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:3000/",
]
SPELLINGS = [
    "https://2130706433/hook",
    "https://0x7f.1/hook",
    "https://127.1/hook",
    "https://0/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
    "https://[fe80::1%25eth0]/hook",
    "https://10.0.0.5/hook",
    "https://100.64.0.1/hook",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://localhost/hook",
    "https://hooks.localhost:8443/hook",
]


async def client_for(settings: IngestSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            yield client


@pytest.fixture
async def production(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(IngestSettings(callback_allow_private=False)):
        yield client


@pytest.fixture
async def development(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(IngestSettings(callback_allow_private=True)):
        yield client


def body(url: str) -> dict[str, Any]:
    return {**hello(recipient()), "callback_url": url}


@pytest.mark.parametrize("url", ISSUE_URLS + SPELLINGS)
async def test_production_refuses_callbacks_to_non_public_receivers(
    production: httpx.AsyncClient, api_key: str, url: str
) -> None:
    answer = await production.post(
        "/v1/notifications", json=body(url), headers={"X-API-Key": api_key}
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "callback_url_not_allowed"
    assert error["field"] == "callback_url"
    assert error["message"].startswith("callback_url ")


async def test_production_refuses_plain_http_to_a_public_name(
    production: httpx.AsyncClient, api_key: str
) -> None:
    answer = await production.post(
        "/v1/notifications",
        json=body("http://hooks.example.invalid/x"),
        headers={"X-API-Key": api_key},
    )
    assert answer.status_code == 422
    assert answer.json()["error"] == {
        "code": "callback_url_not_allowed",
        "message": "callback_url must use https (http is for local development).",
        "field": "callback_url",
    }


async def test_a_batch_rejects_each_such_item_alone(
    production: httpx.AsyncClient, api_key: str
) -> None:
    items = [body(url) for url in ISSUE_URLS]
    items.append({**hello(recipient()), "callback_url": "ftp://x"})  # not a URL at all
    answer = await production.post(
        "/v1/notifications/batch", json={"notifications": items}, headers={"X-API-Key": api_key}
    )
    assert answer.status_code == 202, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * 4
    assert [r["error"]["code"] for r in results] == ["callback_url_not_allowed"] * 3 + [
        "validation_error"
    ]
    assert {r["error"]["field"] for r in results} == {"callback_url"}


async def test_local_development_accepts_a_loopback_receiver(
    development: httpx.AsyncClient, api_key: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    answer = await development.post(
        "/v1/notifications", json=body(url), headers={"X-API-Key": api_key}
    )
    assert answer.status_code == 202, answer.text
    refused = await development.post(
        "/v1/notifications",
        json=body("http://169.254.169.254/latest/meta-data/"),
        headers={"X-API-Key": api_key},
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "callback_url_not_allowed"


def notifctl(stack: Stack, *args: str, allow_private: bool) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": stack.database_url}
    if allow_private:
        env["CALLBACK_ALLOW_PRIVATE"] = "true"
    return subprocess.run(
        [str(Path(sys.executable).with_name("notifctl")), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def test_notifctl_refuses_a_tenant_callback_url_the_policy_refuses(stack: Stack) -> None:
    tenant = f"egress-{time.time_ns()}"
    create = ("keys", "create", "--tenant", tenant, "--callback-url")
    for url in [*ISSUE_URLS, "https://0x7f.1/hook", "https://localhost/hook"]:
        refused = notifctl(stack, *create, url, allow_private=False)
        assert refused.returncode == 2, url
        assert "callback URL is not allowed" in refused.stderr
        assert "wn_live_" not in refused.stdout  # no tenant, no key
    local = notifctl(stack, *create, "http://127.0.0.1:9/hook", allow_private=True)
    assert local.returncode == 0, local.stderr
