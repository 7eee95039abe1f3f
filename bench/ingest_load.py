"""Ingest throughput against its ceiling, and webhook intake latency, on this machine.

Starts an embedded stack (PostgreSQL with fsync on, local SQS, Valkey) on free loopback
ports, then one ingest process and its outbox relay, and drives ingest with wrk (closed loop):

1. a bare FastAPI endpoint that parses the same body (``bare_app.py``): the ceiling;
2. POST /v1/notifications at maximum: accepted/s, latency percentiles, the CPU each process
   used, and how long the relay took to publish everything once the load stopped;
3. the same with the relay paused (SIGSTOP): the API's rate when it does not share the two
   cores with the relay, as in a cluster where they run in separate pods; then how long
   the relay takes to publish the burst once resumed;
4. the bare endpoint again (the ratios use the faster of its two runs);
5. POST /webhooks/whatsapp (signed, 8 connections): one body again and again (its status
   is queued once), then distinct status webhooks (each queues an event, as Meta's do), with
   the relay running and then paused: requests/s, latency percentiles (p99 <= 100 ms), CPU.

Writes ``bench/results/ingest-<UTC>.json``. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from procstat import cpu_seconds
from profiles import Profiles
from results_file import write_result

from notif_core.db import libpq_url
from notif_core.settings import CoreSettings
from notif_local.devtenant import ensure_dev_key
from notif_local.ports import free_port, wait_for_port
from notif_local.stack import LocalStack, Ports, create_queues, migrate_all
from wa_sandbox.meta import sign

BIN = Path(sys.executable).parent
BODY = {
    "to": "+14155550123",
    "template": {
        "name": "order_update",
        "language": "en_US",
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-1001"}]}],
    },
}
APP_SECRET = "bench-app-secret"  # noqa: S105 - a throwaway value for the bench
UNPUBLISHED = "SELECT count(*) FROM ingest.outbox WHERE published_at IS NULL"
DISTINCT_WEBHOOKS = 30_000
"""Distinct signed status webhooks wrk cycles through: more than a run sends, so each one
carries an event ingest has not seen and queues it, as Meta's do."""


def status_webhook(wamid: str) -> bytes:
    """A signed-to-be body as Meta sends it: one ``delivered`` status for ``wamid``."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "1555", "phone_number_id": "1"},
        "statuses": [
            {
                "id": wamid,
                "status": "delivered",
                "timestamp": str(int(time.time())),
                "recipient_id": "14155550123",
            }
        ],
    }
    body = {
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
        "object": "whatsapp_business_account",
    }
    return json.dumps(body).encode()


@contextmanager
def profiled(out: Path | None, label: str, pids: dict[str, int]) -> Iterator[None]:
    """py-spy samples ``pids`` while the block runs when ``out`` is set (``--profile``)."""
    if out is None:
        yield
        return
    profiles = Profiles(out, label)
    profiles.start(pids)
    try:
        yield
    finally:
        for name, path in profiles.stop().items():
            print(f"profile of {name}: {path}", flush=True)


def drain_seconds(database_url: str, limit: float = 300) -> float:
    """Seconds until the relay has published every outbox row."""
    started = time.monotonic()
    with psycopg.connect(libpq_url(database_url)) as conn:
        while conn.execute(UNPUBLISHED).fetchone() != (0,):
            if time.monotonic() - started > limit:
                raise TimeoutError("the outbox did not drain")
            time.sleep(0.2)
    return round(time.monotonic() - started, 1)


def wrk(
    url: str,
    body: bytes | list[tuple[bytes, dict[str, str]]],
    headers: dict[str, str],
    seconds: int,
    connections: int,
) -> dict[str, Any]:
    """Run wrk with a POST script; returns requests/s, latency percentiles and non-2xx.

    ``body`` is one body sent with ``headers`` every time, or a list of (body, extra
    headers) sent in turn, each formatted once when the script loads."""
    if isinstance(body, bytes):
        lua = (
            "wrk.method = 'POST'\nwrk.body = [["
            + body.decode()
            + "]]\n"
            + "".join(f"wrk.headers['{k}'] = '{v}'\n" for k, v in headers.items())
        )
    else:
        lua = "local requests = {}\n" + "".join(
            "requests[#requests + 1] = wrk.format('POST', nil, {"
            + ", ".join(f"['{k}'] = '{v}'" for k, v in (headers | extra).items())
            + "}, [["
            + one.decode()
            + "]])\n"
            for one, extra in body
        )
        lua += (
            "local i = 0\n"
            "request = function()\n  i = i % #requests + 1\n  return requests[i]\nend\n"
        )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests_per_second": rps,
        "latency_ms": {"p50": ms("50"), "p90": ms("90"), "p99": ms("99")},
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
        "connections": connections,
        "seconds": seconds,
    }


def start(argv: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_for_port(port, 60)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy profiles of ingest and the relay per load "
        "(bench/results/profile-<UTC>/<load>-<process>.folded)",
    )
    args = parser.parse_args()
    if args.profile:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        args.profile = Path("bench/results") / f"profile-{stamp}"
    else:
        args.profile = None
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `make bench-deps` installs it")
    root = Path(tempfile.mkdtemp(prefix="notif-bench-"))
    stack = LocalStack(root, ports=Ports.all_free(), outer_env={})
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = {**os.environ, **stack.start()}
        os.environ.update(env)
        migrate_all(env["DATABASE_URL"])
        create_queues(CoreSettings(), max_receive_count=5)
        key = ensure_dev_key(env["DATABASE_URL"], root / "key")
        ingest_port, relay_port, bare_port = free_port(), free_port(), free_port()
        ingest_env = env | {
            "INGEST_PORT": str(ingest_port),
            "RELAY_PORT": str(relay_port),
            "API_RATE_LIMIT_PER_SECOND": "1000000",
            "API_RATE_LIMIT_BURST": "1000000",
            "WHATSAPP_APP_SECRET": APP_SECRET,
        }
        procs.append(
            start([str(BIN / "notif-ingest")], ingest_env, ingest_port, root / "ingest.log")
        )
        procs.append(start([str(BIN / "notif-relay")], ingest_env, relay_port, root / "relay.log"))
        measured = {"ingest": procs[0].pid, "relay": procs[1].pid}
        procs.append(
            start(
                [
                    str(BIN / "uvicorn"),
                    "--app-dir",
                    str(Path(__file__).parent),
                    "bare_app:app",
                    "--port",
                    str(bare_port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                env,
                bare_port,
                root / "bare.log",
            )
        )
        body = json.dumps(BODY).encode()
        json_headers = {"Content-Type": "application/json"}
        ingest_url = f"http://127.0.0.1:{ingest_port}/v1/notifications"
        ingest_headers = json_headers | {"X-API-Key": key}
        probe = httpx.post(ingest_url, content=body, headers=ingest_headers)
        assert probe.status_code == 202, probe.text
        bare_url = f"http://127.0.0.1:{bare_port}/v1/notifications"
        # The bare endpoint before and after the ingest runs (PostgreSQL's checkpoints and
        # autovacuum can follow a burst); the ratios use the faster of the two.
        bare_before = wrk(bare_url, body, json_headers, args.seconds, args.connections)
        wrk(ingest_url, body, ingest_headers, 3, args.connections)  # warm-up
        drain_seconds(env["DATABASE_URL"])
        cpu_before = {name: cpu_seconds(pid) for name, pid in measured.items()}
        with profiled(args.profile, "accept", measured):
            ingest = wrk(ingest_url, body, ingest_headers, args.seconds, args.connections)
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in measured.items()}
        ingest["cpu_cores"] = {name: round(used / args.seconds, 2) for name, used in cpu.items()}
        ingest["relay_drain_seconds_after"] = drain_seconds(env["DATABASE_URL"])
        # The same with the relay paused: the API's own rate when it does not share this
        # machine's two cores with the relay (in a cluster they run in separate pods); the
        # outbox keeps the burst and the relay publishes it once resumed.
        os.kill(measured["relay"], signal.SIGSTOP)
        try:
            paused = wrk(ingest_url, body, ingest_headers, args.seconds, args.connections)
        finally:
            os.kill(measured["relay"], signal.SIGCONT)
        paused["relay_drain_seconds_after"] = drain_seconds(env["DATABASE_URL"])
        bare_after = wrk(bare_url, body, json_headers, args.seconds, args.connections)
        webhook_url = f"http://127.0.0.1:{ingest_port}/webhooks/whatsapp"
        repeated = status_webhook("wamid.BENCH")
        signed = json_headers | {"X-Hub-Signature-256": sign(APP_SECRET, repeated)}
        with profiled(args.profile, "webhooks_repeated", measured):
            webhooks_repeated = wrk(webhook_url, repeated, signed, args.seconds, 8)

        def distinct_webhooks(label: str) -> dict[str, Any]:
            """wrk through status webhooks no earlier run sent, with the CPU each process
            used and how long the relay took to publish their events afterwards."""
            hooks = [status_webhook(f"wamid.{label}{n}") for n in range(DISTINCT_WEBHOOKS)]
            signed = [(hook, {"X-Hub-Signature-256": sign(APP_SECRET, hook)}) for hook in hooks]
            drain_seconds(env["DATABASE_URL"])
            before = {name: cpu_seconds(pid) for name, pid in measured.items()}
            with profiled(args.profile, label, measured):
                run = wrk(webhook_url, signed, json_headers, args.seconds, 8)
            run["cpu_cores"] = {
                name: round((cpu_seconds(pid) - before[name]) / args.seconds, 2)
                for name, pid in measured.items()
            }
            return run

        webhooks = distinct_webhooks("webhooks")
        webhooks["relay_drain_seconds_after"] = drain_seconds(env["DATABASE_URL"])
        os.kill(measured["relay"], signal.SIGSTOP)  # ingest alone, as for the API above
        try:
            webhooks_paused = distinct_webhooks("webhooks_relay_paused")
        finally:
            os.kill(measured["relay"], signal.SIGCONT)
        webhooks_paused["relay_drain_seconds_after"] = drain_seconds(env["DATABASE_URL"])
        bare = max(bare_before, bare_after, key=lambda run: run["requests_per_second"])
        result = {
            "postgres_fsync": "on",
            "ingest": ingest,
            "bare_fastapi": bare,
            "bare_fastapi_runs_per_second": [
                bare_before["requests_per_second"],
                bare_after["requests_per_second"],
            ],
            "ratio_to_bare": round(ingest["requests_per_second"] / bare["requests_per_second"], 3),
            "ingest_relay_paused": paused,
            "ratio_to_bare_relay_paused": round(
                paused["requests_per_second"] / bare["requests_per_second"], 3
            ),
            "webhook_intake": webhooks,
            "webhook_intake_relay_paused": webhooks_paused,
            "webhook_intake_repeated": webhooks_repeated,
        }
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(15)
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)
    write_result("ingest", "make bench-ingest", result)


if __name__ == "__main__":
    main()
