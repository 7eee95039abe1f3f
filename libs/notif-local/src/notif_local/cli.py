"""``notif-local run``: the whole system on one machine, on embedded defaults.

Starts what is not configured (PostgreSQL, local SQS, Valkey), creates the queues, runs the
migrations, ensures a development API key, then runs the services under honcho. Ctrl-C stops
the services first, then the embedded servers; data stays in ``.local/`` for the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from notif_core.settings import CoreSettings
from notif_core.sqs._sqs import DEFAULT_MAX_RECEIVE_COUNT
from notif_local.devtenant import ensure_dev_key
from notif_local.stack import LocalStack, create_queues, migrate_all

APPS = ("ingest", "ledger", "dispatcher")
EXAMPLE_TO = "+15551234567"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False


def wait_healthy(urls: list[str], timeout: float, proc: subprocess.Popen[Any]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if all(_healthy(u) for u in urls):
            return True
        time.sleep(0.2)
    return False


def banner(key: str, ingest_port: int, seconds: float) -> str:
    body = json.dumps({"to": EXAMPLE_TO, "text": {"body": "Hello from whatsapp-notif"}})
    base = f"http://127.0.0.1:{ingest_port}"
    send = (
        f"curl -s -X POST {base}/v1/notifications -H 'Content-Type: application/json' "
        f'-H "X-API-Key: $(cat .local/dev-api-key)" -d {shlex.quote(body)}'
    )
    return "\n".join(
        [
            "",
            f"whatsapp-notif is up ({seconds:.1f}s). API key prefix: {key[:12]}… "
            "(full key in .local/dev-api-key)",
            "Send a message:",
            f"  {send}",
            "Then read its status (use the id from the answer):",
            f'  curl -s {base}/v1/notifications/<id> -H "X-API-Key: $(cat .local/dev-api-key)"',
            "Ctrl-C stops everything; data stays in .local/.",
            "",
        ]
    )


def run(root: Path, procfile: Path) -> int:
    started = time.monotonic()
    stack = LocalStack(root)
    try:
        env = stack.start()
        os.environ.update(env)
        settings = CoreSettings()
        migrate_all(settings.database_url)
        create_queues(settings, int(os.environ.get("MAX_RECEIVE_COUNT", DEFAULT_MAX_RECEIVE_COUNT)))
        key = ensure_dev_key(settings.database_url, root / "dev-api-key")
        names = [*APPS, "sandbox"] if stack.runs_sandbox else list(APPS)
        honcho = Path(sys.executable).with_name("honcho")
        proc = subprocess.Popen(
            [str(honcho), "-f", str(procfile), "start", *names],
            env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        )
        signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
        ports = stack.ports
        health = [
            f"http://127.0.0.1:{ports.ingest}/v1/health",
            f"http://127.0.0.1:{ports.ledger}/health",
            f"http://127.0.0.1:{ports.dispatcher}/health",
        ]
        if wait_healthy(health, 60, proc):
            print(banner(key, ports.ingest, time.monotonic() - started), flush=True)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            return proc.wait(timeout=60)
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="notif-local", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run the whole system locally")
    run_p.add_argument(
        "--root", type=Path, default=Path(os.environ.get("NOTIF_LOCAL_DIR", ".local"))
    )
    run_p.add_argument("--procfile", type=Path, default=Path("Procfile"))
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.root.resolve(), args.procfile)
    return 2


if __name__ == "__main__":
    sys.exit(main())
