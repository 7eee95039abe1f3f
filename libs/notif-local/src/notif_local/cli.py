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
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import TextIO

import honcho.manager
from honcho.environ import parse_procfile
from honcho.printer import Printer

from notif_core.settings import CoreSettings
from notif_core.sqs._sqs import DEFAULT_MAX_RECEIVE_COUNT
from notif_local import prometheus
from notif_local.devtenant import ensure_dev_key
from notif_local.stack import LocalStack, Ports, create_queues, migrate_all

APPS = ("ingest", "relay", "ledger", "callbacks", "dispatcher")
EXAMPLE_TO = "+15551234567"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False


def banner(key: str, ingest_port: int, seconds: float) -> str:
    body = json.dumps({"to": EXAMPLE_TO, "template": {"name": "hello_world", "language": "en_US"}})
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
    stack = LocalStack(root, ports=Ports.from_env(os.environ))
    try:
        env = stack.start()
        os.environ.update(env)
        settings = CoreSettings()
        migrate_all(settings.database_url)
        create_queues(settings, int(os.environ.get("MAX_RECEIVE_COUNT", DEFAULT_MAX_RECEIVE_COUNT)))
        key = ensure_dev_key(settings.database_url, root / "dev-api-key")
        names = [*APPS, "sandbox"] if stack.runs_sandbox else list(APPS)
        ports = stack.ports
        health = [
            f"http://127.0.0.1:{ports.ingest}/v1/health",
            f"http://127.0.0.1:{ports.relay}/health",
            f"http://127.0.0.1:{ports.ledger}/health",
            f"http://127.0.0.1:{ports.callbacks}/health",
            f"http://127.0.0.1:{ports.dispatcher}/health",
        ]
        extra: dict[str, str] = {}
        command = prometheus.prepare(root, ports)
        if command is not None:
            extra["prometheus"] = command
        threading.Thread(
            target=announce, args=(health, key, ports.ingest, started), daemon=True
        ).start()
        return run_processes(procfile, names, extra)
    finally:
        stack.stop()


def run_processes(procfile: Path, names: list[str], extra: dict[str, str] | None = None) -> int:
    """Run the named Procfile entries under honcho until one stops or a signal arrives.

    honcho SIGKILLs whatever is still running some seconds after the first stop; that wait
    is raised above the workers' drain time so a Ctrl-C never cuts a drain short.
    """
    honcho.manager.KILL_WAIT = int(os.environ.get("DRAIN_SECONDS", "20")) + 10
    entries = parse_procfile(procfile.read_text()).processes
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    manager = honcho.manager.Manager(Printer(OUTPUT))
    for name in names:
        manager.add_process(name, entries[name], env=env)
    for name, command in (extra or {}).items():
        manager.add_process(name, command, env=env)
    try:
        manager.loop()
    finally:
        manager.kill()  # no-op once all stopped; otherwise no service outlives us
    return int(manager.returncode or 0)


class _TolerantOutput:
    """stdout that shrugs off a closed reader (``make run | tee`` with tee gone after
    Ctrl-C), so printing can never stop the shutdown of the services."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._open = True

    def write(self, text: str) -> int:
        if self._open:
            try:
                self._stream.write(text)
                self._stream.flush()
            except OSError:
                self._open = False
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self._open and self._stream.isatty()


OUTPUT = _TolerantOutput(sys.stdout)


def announce(health: list[str], key: str, ingest_port: int, started: float) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(_healthy(u) for u in health):
            OUTPUT.write(banner(key, ingest_port, time.monotonic() - started) + "\n")
            return
        time.sleep(0.2)


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
