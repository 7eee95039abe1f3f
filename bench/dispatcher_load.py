"""Maximum sends/s of one dispatcher process against the sandbox (cap raised to 5,000),
and its CPU cost per message, for each HTTP client.

Preloads the dispatch queue with N commands, starts one dispatcher, and times until the
sandbox has accepted all N; CPU comes from /proc/<pid>/stat. Writes
``bench/results/dispatcher-<UTC>.json``. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from procstat import cpu_seconds
from results_file import write_result

from notif_core import events as ev
from notif_core.ids import new_id
from notif_core.settings import CoreSettings
from notif_core.sqs import Publisher, QueueNames, sqs_client
from notif_local.ports import free_port, wait_for_port
from notif_local.stack import LocalStack, Ports, create_queues, migrate_all

BIN = Path(sys.executable).parent


async def preload(count: int) -> None:
    async with sqs_client(CoreSettings()) as client:
        url = (await client.get_queue_url(QueueName=QueueNames().dispatch))["QueueUrl"]
        publisher = Publisher(client)
        batch: list[ev.Event] = []
        for i in range(count):
            batch.append(
                ev.NotificationAccepted(
                    producer="bench",
                    tenant_id=new_id(),
                    notification_id=new_id(),
                    payload=ev.AcceptedPayload(
                        to=f"+1415{i:07d}",
                        message={
                            "type": "template",
                            "template": {"name": "hello_world", "language": {"code": "en_US"}},
                        },
                    ),
                )
            )
            if len(batch) == 100:
                await asyncio.gather(
                    *(publisher.publish(url, batch[j : j + 10]) for j in range(0, 100, 10))
                )
                batch = []
        if batch:
            await publisher.publish(url, batch)


def run_once(
    env: dict[str, str], client: str, count: int, sandbox: str, root: Path
) -> dict[str, Any]:
    httpx.post(f"{sandbox}/_sandbox/reset", json={})
    httpx.post(
        f"{sandbox}/_sandbox/config",
        json={
            "senders": [
                {
                    "phone_number_id": "100000000000001",
                    "display_phone_number": "1",
                    "access_token": "sandbox-access-token",
                    "throughput_mps": 5000,
                }
            ],
            "pair_limit": {"per_seconds": 0},
            "webhook_url": None,
        },
    ).raise_for_status()
    asyncio.run(preload(count))
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "notif-dispatcher")],
        env=env | {"DISPATCHER_PORT": str(port), "HTTP_CLIENT": client},
        stdout=(root / f"dispatcher-{client}.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, 30)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        while httpx.get(f"{sandbox}/_sandbox/stats").json()["accepted"] < count:
            if time.monotonic() - t0 > 600:
                raise TimeoutError("dispatcher did not finish")
            time.sleep(0.1)
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(proc.pid) - cpu0
    finally:
        proc.terminate()
        proc.wait(30)
    stats = httpx.get(f"{sandbox}/_sandbox/stats").json()
    return {
        "http_client": client,
        "messages": count,
        "seconds": round(elapsed, 2),
        "sends_per_second": round(count / elapsed, 1),
        "cpu_ms_per_message": round(cpu * 1000 / count, 3),
        "rejected": stats["rejected"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="notif-bench-"))
    stack = LocalStack(root, ports=Ports.all_free(), outer_env={})
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = {**os.environ, **stack.start()}
        os.environ.update(env)
        migrate_all(env["DATABASE_URL"])
        create_queues(CoreSettings(), max_receive_count=5)
        sandbox_port = free_port()
        procs.append(
            subprocess.Popen(
                [str(BIN / "wa-sandbox")],
                env=env | {"SANDBOX_PORT": str(sandbox_port)},
                stdout=subprocess.DEVNULL,
            )
        )
        wait_for_port(sandbox_port, 30)
        sandbox = f"http://127.0.0.1:{sandbox_port}"
        env |= {
            "WHATSAPP_API_BASE_URL": sandbox,
            "SENDER_RATE_PER_SECOND": "5000",
            "PAIR_SECONDS": "0",
            "WORKER_CONCURRENCY": str(args.concurrency),
            "LOG_LEVEL": "WARNING",
        }
        runs = [
            run_once(env, client, args.messages, sandbox, root) for client in ("httpx", "aiohttp")
        ]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(15)
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)
    result = {
        "sandbox_cap": 5000,
        "worker_concurrency": args.concurrency,
        "runs": runs,
    }
    write_result("dispatcher", "make bench-dispatcher", result)


if __name__ == "__main__":
    main()
