"""The sandbox in-process on a free port, and a webhook receiver that records what it gets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

from wa_sandbox.app import RunningSandbox
from wa_sandbox.config import SandboxConfig, load
from wa_sandbox.meta import sign

TOKEN = "sandbox-access-token"
PHONE_ID = "100000000000001"
WABA_ID = "200000000000001"
SECRET = "test-app-secret"


@dataclass
class Receiver:
    """Records every webhook POST; answers from ``statuses`` first, then 200."""

    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append((dict(request.headers), await request.read()))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.posts]

    def statuses_of(self, wamid: str) -> list[dict[str, Any]]:
        return [
            s
            for body in self.bodies()
            for entry in body["entry"]
            for change in entry["changes"]
            for s in change["value"].get("statuses", [])
            if s["id"] == wamid
        ]

    def changes(self, field_name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Every ``field_name`` change received, as (entry, value)."""
        return [
            (entry, change["value"])
            for body in self.bodies()
            for entry in body["entry"]
            for change in entry["changes"]
            if change["field"] == field_name
        ]

    def all_signed(self) -> bool:
        return all(h["X-Hub-Signature-256"] == sign(SECRET, b) for h, b in self.posts)

    async def wait_for(self, predicate: Any, within: float = 5) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while not predicate():
            assert asyncio.get_running_loop().time() < deadline, self.bodies()
            await asyncio.sleep(0.02)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/webhook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.url = f"http://127.0.0.1:{port}/webhook"
    yield rec
    await runner.cleanup()


def make_config(receiver: Receiver) -> SandboxConfig:
    base = load(env={})
    return base.merged(
        {
            "app_secret": SECRET,
            "webhook_url": receiver.url,
            "webhooks": {"time_scale": 0.05, "retry_base": 0.5},
        }
    )


@dataclass
class Client:
    """Speaks to the sandbox over real HTTP."""

    http: httpx.AsyncClient
    running: RunningSandbox

    async def send(
        self, body: dict[str, Any], token: str = TOKEN, phone_id: str = PHONE_ID
    ) -> httpx.Response:
        return await self.http.post(
            f"/v21.0/{phone_id}/messages",
            json={"messaging_product": "whatsapp", **body},
            headers={"Authorization": f"Bearer {token}"},
        )

    async def configure(self, changes: dict[str, Any]) -> httpx.Response:
        return await self.http.post("/_sandbox/config", json=changes)


@pytest.fixture
async def sandbox(receiver: Receiver) -> AsyncIterator[Client]:
    running = RunningSandbox(make_config(receiver))
    async with running, httpx.AsyncClient(base_url=running.url, timeout=10) as http:
        yield Client(http, running)
