"""One notification, one trace: ingest → SQS → dispatcher → Meta call → SQS → ledger →
customer callback, all under the trace id of the client's POST.

The three services run in this test's process (their real ``serve`` functions, on their own
queues and ports) so that one in-memory exporter sees every span; the WhatsApp sandbox, the
database, SQS and Redis are the real ones of the test stack.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dispatcher.main import serve as serve_dispatcher
from dispatcher.settings import DispatcherSettings
from ingest.main import create_app
from ingest.relay.process import serve as serve_relay
from ingest.settings import IngestSettings
from ledger.main import serve as serve_ledger
from ledger.main import serve_callbacks
from ledger.settings import LedgerSettings
from notif_core.ids import new_id
from notif_core.runtime import http_server
from notif_core.settings import CoreSettings
from notif_core.sqs import QueueNames, provision_queues, sqs_client
from notif_core.telemetry import setup_tracing
from notif_local.devtenant import ensure_dev_key
from notif_local.ports import free_port
from tests.conftest import Stack, recipient
from tests.e2e.api import hello
from tests.e2e.services import Services


@pytest.fixture
def own_env(
    stack: Stack, services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[dict[str, int], str]:
    """The services' settings, with a database, queues and ports of this test's own (the
    subprocess services must not take work meant for the in-process ones)."""
    database_url = stack.new_database("trace", migrated=True)
    key = ensure_dev_key(database_url, tmp_path / "key")
    ports = {name: free_port() for name in ("ingest", "relay", "ledger", "callbacks", "dispatcher")}
    for name, value in services.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("QUEUE_PREFIX", f"trace{new_id().hex[-8:]}")
    monkeypatch.setenv("INGEST_PORT", str(ports["ingest"]))
    monkeypatch.setenv("LEDGER_PORT", str(ports["ledger"]))
    monkeypatch.setenv("DISPATCHER_PORT", str(ports["dispatcher"]))
    monkeypatch.setenv("RELAY_PORT", str(ports["relay"]))
    monkeypatch.setenv("CALLBACKS_PORT", str(ports["callbacks"]))
    monkeypatch.setenv("WHATSAPP_API_BASE_URL", services.url("sandbox"))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return ports, key


async def wait_healthy(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                if (await client.get(url + "/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError(url)


@pytest.mark.e2e
async def test_one_trace_spans_every_hop(own_env: tuple[dict[str, int], str]) -> None:
    ports, api_key = own_env
    exporter = InMemorySpanExporter()
    setup_tracing("tests", exporter=exporter)
    settings = CoreSettings()
    async with sqs_client(settings) as sqs:
        await provision_queues(sqs, QueueNames(settings.queue_prefix), max_receive_count=11)

    received: list[tuple[dict[str, str], dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.json()))
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    runner = web.AppRunner(receiver)
    await runner.setup()
    hook_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()

    stopping = asyncio.Event()
    ingest = http_server(create_app(IngestSettings()), "127.0.0.1", ports["ingest"])
    tasks = [
        asyncio.create_task(ingest.serve()),
        asyncio.create_task(serve_relay(IngestSettings(), stopping)),
        asyncio.create_task(serve_dispatcher(DispatcherSettings(), stopping)),
        asyncio.create_task(serve_ledger(LedgerSettings(), stopping)),
        asyncio.create_task(serve_callbacks(LedgerSettings(), stopping)),
    ]
    base = f"http://127.0.0.1:{ports['ingest']}"
    try:
        for port in ports.values():
            await wait_healthy(f"http://127.0.0.1:{port}")
        body = {**hello(recipient()), "callback_url": f"http://127.0.0.1:{hook_port}/hook"}
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                base + "/v1/notifications", json=body, headers={"X-API-Key": api_key}
            )
        assert answer.status_code == 202
        nid = answer.json()["id"]
        for _ in range(300):
            if any(b["status"] == "sent" for _, b in received):
                break
            await asyncio.sleep(0.1)
    finally:
        stopping.set()
        ingest.should_exit = True
        await asyncio.gather(*tasks)
        await runner.cleanup()

    spans = exporter.get_finished_spans()
    (post,) = [s for s in spans if s.name == "POST /v1/notifications" and s.kind.name == "SERVER"]
    trace_id = post.context.trace_id
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    names = {s.name for s in in_trace}
    queues = QueueNames(settings.queue_prefix)
    assert f"{queues.dispatch} process" in names  # the dispatcher continued it from SQS
    meta_calls = [
        s
        for s in in_trace
        if s.kind.name == "CLIENT"
        and "/messages"
        in str((s.attributes or {}).get("url.full", ""))
        + str((s.attributes or {}).get("http.url", ""))
    ]
    assert meta_calls, names  # the Cloud API call, under the dispatcher's span
    assert any(
        (s.attributes or {}).get("db.system") == "postgresql" for s in in_trace
    )  # database work shows in the trace too
    assert "events project" in names  # the ledger projected the dispatcher's `sent`
    assert "callback deliver" in names  # and called the customer back
    (sent_headers, sent_body) = next((h, b) for h, b in received if b["status"] == "sent")
    assert sent_body["id"] == nid
    traceparent = sent_headers.get("traceparent") or sent_headers.get("Traceparent")
    assert traceparent is not None
    assert traceparent.split("-")[1] == format(trace_id, "032x")  # the customer can join it
