"""Load the WhatsApp sandbox alone: its ceiling with webhooks on, and its throughput cap.

Starts ``wa-sandbox`` and a webhook receiver as separate processes on loopback, then runs
two phases and writes ``bench/results/sandbox-<UTC>.json``:

1. closed loop at maximum for ``--seconds``: accepted sends/s with every webhook delivered;
2. open loop at 200 mps for 10 s against a cap of 80 mps: accepted count vs 130429s.

Every request goes to 127.0.0.1 only, and every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from results_file import write_result

HOST = "127.0.0.1"
TOKEN = "sandbox-access-token"  # noqa: S105 - the sandbox default
PHONE_ID = "100000000000001"
MAX_REQUESTS = 2_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def body(i: int) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "to": f"1415{i % 10_000_000:07d}",
        "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}},
        "biz_opaque_callback_data": f"bench-{i}",
    }


async def closed_loop(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    counter = iter(range(MAX_REQUESTS))
    codes: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            i = next(counter, None)
            if i is None:
                return
            async with session.post(
                url, json=body(i), headers={"Authorization": f"Bearer {TOKEN}"}
            ) as r:
                data = await r.json()
                key = "accepted" if r.status == 200 else str(data["error"]["code"])
                codes[key] = codes.get(key, 0) + 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return {
        "seconds": elapsed,
        "outcomes": codes,
        "accepted_per_second": codes.get("accepted", 0) / elapsed,
    }


async def open_loop(url: str, rate: float, seconds: float) -> dict[str, Any]:
    codes: dict[str, int] = {}
    total = int(rate * seconds)

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        async with session.post(
            url, json=body(i), headers={"Authorization": f"Bearer {TOKEN}"}
        ) as r:
            data = await r.json()
            key = "accepted" if r.status == 200 else str(data["error"]["code"])
            codes[key] = codes.get(key, 0) + 1

    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        tasks = []
        for i in range(total):
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(session, i)))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
    return {"offered": total, "offered_rate": rate, "seconds": elapsed, "outcomes": codes}


def serve_webhooks(port: int) -> None:
    """A receiver that acknowledges every webhook, as a healthy ingest would."""
    statuses = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal statuses
        payload = await request.json()
        for entry in payload["entry"]:
            for change in entry["changes"]:
                statuses += len(change["value"].get("statuses", []))
        return web.Response(text="ok")

    async def count(_request: web.Request) -> web.Response:
        return web.json_response({"statuses": statuses})

    app = web.Application()
    app.router.add_post("/webhooks/whatsapp", handle)
    app.router.add_get("/count", count)
    web.run_app(app, host=HOST, port=port, access_log=None, print=None)


async def configure(base: str, changes: dict[str, Any]) -> None:
    """Reset (which restores the startup config), then apply ``changes``."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/_sandbox/reset") as r:
            assert r.status == 200
        async with session.post(f"{base}/_sandbox/config", json=changes) as r:
            assert r.status == 200, await r.text()


async def stats(base: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/_sandbox/stats") as r:
        return await r.json()  # type: ignore[no-any-return]


async def wait_webhooks(base: str, limit: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        s = await stats(base)
        if s["webhooks"]["pending"] == 0 or time.monotonic() > deadline:
            return s
        await asyncio.sleep(0.2)


async def received(port: int) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"http://{HOST}:{port}/count") as r:
        return int((await r.json())["statuses"])


def wait_port(port: int) -> None:
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--serve-webhooks", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_webhooks:
        serve_webhooks(args.serve_webhooks)
        return
    sandbox_port, hook_port = free_port(), free_port()
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "SANDBOX_PORT": str(sandbox_port),
        "SANDBOX_WEBHOOK_URL": f"http://{HOST}:{hook_port}/webhooks/whatsapp",
    }
    procs = [
        subprocess.Popen([sys.executable, __file__, "--serve-webhooks", str(hook_port)]),
        subprocess.Popen([str(bin_dir / "wa-sandbox")], env=env, stdout=subprocess.DEVNULL),
    ]
    try:
        wait_port(hook_port)
        wait_port(sandbox_port)
        base = f"http://{HOST}:{sandbox_port}"
        url = f"{base}/v21.0/{PHONE_ID}/messages"
        sender = {
            "phone_number_id": PHONE_ID,
            "display_phone_number": "15550001111",
            "access_token": TOKEN,
        }
        asyncio.run(
            configure(
                base,
                {
                    "senders": [{**sender, "throughput_mps": 10_000}],
                    "pair_limit": {"per_seconds": 0},
                },
            )
        )
        ceiling = asyncio.run(closed_loop(url, args.seconds, args.concurrency))
        ceiling["stats"] = asyncio.run(wait_webhooks(base))
        ceiling["statuses_received"] = asyncio.run(received(hook_port))
        ceiling["statuses_expected"] = 3 * ceiling["outcomes"].get("accepted", 0)
        asyncio.run(
            configure(
                base,
                {"senders": [{**sender, "throughput_mps": 80}], "pair_limit": {"per_seconds": 0}},
            )
        )
        capped = asyncio.run(open_loop(url, 200, 10))
        accepted = capped["outcomes"].get("accepted", 0)
        capped["expected_accepted"] = 800
        capped["deviation_percent"] = round((accepted - 800) / 800 * 100, 2)
        result = {
            "max_with_webhooks": ceiling,
            "cap_80_offered_200": capped,
        }
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
    write_result("sandbox", "make bench-sandbox", result)


if __name__ == "__main__":
    main()
