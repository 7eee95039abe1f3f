"""``notif-local run``: the whole system on one machine, on embedded defaults.

Starts what is not configured (PostgreSQL, local SQS, Valkey), creates the queues, runs the
migrations, ensures a development API key, then runs the services under honcho. Ctrl-C stops
the services first, then the embedded servers; data stays in ``.local/`` for the next run.

A run killed outright (SIGKILL) takes its processes with it: each one gets a signal from the
kernel when its parent dies (``notif_local.lifetime``). The embedded servers get their clean
stop; honcho's runner processes, and the services they run, get SIGKILL (see ``_Runner``).
Under ``make run``, notif-local itself gets SIGTERM, a normal shutdown, when make is killed.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import re
import shlex
import signal
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import TextIO

import honcho.manager
import honcho.process
from honcho.environ import parse_procfile
from honcho.printer import Printer

from notif_core.settings import CoreSettings
from notif_core.sqs.limits import DEFAULT_MAX_RECEIVE_COUNT
from notif_local import prometheus
from notif_local.devtenant import ensure_dev_key
from notif_local.lifetime import LocalStackError, die_with_parent, end_with_parent
from notif_local.ports import check_free
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
            "Operate it with notifctl in this environment (local queues and database):",
            "  set -a; . .local/env; set +a; .venv/bin/notifctl queues stats",
            "Ctrl-C stops everything; data stays in .local/.",
            "",
        ]
    )


def write_env(path: Path, env: dict[str, str]) -> None:
    """The local stack's settings as shell assignments (``. .local/env``), so ``notifctl``
    reaches the local queues and database rather than whatever AWS account the shell has."""
    lines = [f"{name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # a SIGTERM while starting up still stops what started


def _end_with_make() -> None:
    """Under ``make run``, shut down normally (SIGTERM) when make is killed: a SIGKILLed make
    forwards nothing. Not under a shell, which may well exit while we are meant to go on."""
    try:
        parent = Path(f"/proc/{os.getppid()}/comm").read_text().strip()
    except OSError:
        return
    if parent in ("make", "gmake"):
        end_with_parent(signal.SIGTERM)


def check_ports(ports: Ports, sandbox: bool, prometheus_port: int | None) -> None:
    """Every service port free, or a message naming what holds it (a service an earlier
    run left, another program) instead of a service that fails to bind among the others."""
    services = [
        ("ingest", ports.ingest, "INGEST_PORT"),
        ("relay", ports.relay, "RELAY_PORT"),
        ("ledger", ports.ledger, "LEDGER_PORT"),
        ("callbacks", ports.callbacks, "CALLBACKS_PORT"),
        ("dispatcher", ports.dispatcher, "DISPATCHER_PORT"),
    ]
    if sandbox:
        services.append(("the WhatsApp sandbox", ports.sandbox, "SANDBOX_PORT"))
    if prometheus_port:
        services.append(("Prometheus", prometheus_port, "PROMETHEUS_PORT"))
    for name, port, setting in services:
        check_free(port, name, setting)


def run(root: Path, procfile: Path) -> int:
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _terminated)
    _end_with_make()
    stack = LocalStack(root, ports=Ports.from_env(os.environ))
    try:
        stack.claim()
        check_ports(stack.ports, stack.runs_sandbox, prometheus.port())
        env = stack.start()
        os.environ.update(env)
        write_env(root / "env", env)
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
    # honcho starts a runner process per entry with multiprocessing; forked, each one is our
    # child, which _Runner relies on (3.14 makes forkserver the default on Linux).
    multiprocessing.set_start_method("fork", force=True)
    entries = parse_procfile(procfile.read_text()).processes
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    manager = honcho.manager.Manager(Printer(OUTPUT))
    manager._process_ctor = _Runner
    for name in names:
        manager.add_process(name, entries[name], env=env)
    for name, command in (extra or {}).items():
        manager.add_process(name, command, env=env)
    try:
        manager.loop()
    finally:
        manager.kill()  # no-op once all stopped; otherwise no service outlives us
    return int(manager.returncode or 0)


_SHELL_SYNTAX = re.compile(r"[;&|<>()`$\n]|^\s*\w+=")


def exec_form(command: str) -> str:
    """``exec command`` for a simple command, so the service replaces honcho's ``/bin/sh -c``
    (dash does not exec by itself) and keeps the parent-death signal, which a fork clears."""
    if _SHELL_SYNTAX.search(command) or command.lstrip().startswith("exec "):
        return command
    return f"exec {command}"


class _Runner(honcho.process.Process):  # type: ignore[misc]
    """honcho's per-service runner process, ending with the manager, and its service ending
    with it; both by SIGKILL. The runner holds no state and ignores SIGTERM. A service's drain
    would have nothing to finish: the servers it drains against stop at the same moment, so
    SIGTERM only kept the dispatcher and the ledger retrying for ~15 s more. The services are
    built to be killed (at-least-once delivery; the chaos run kills them with -9)."""

    def __init__(self, cmd: str, **kwargs: object) -> None:
        super().__init__(exec_form(cmd), **kwargs)
        self._manager = os.getpid()

    def run(self, events: object = None, ignore_signals: bool = False) -> None:
        end_with_parent(signal.SIGKILL, self._manager)
        self._child_ctor = functools.partial(
            honcho.process.Popen, preexec_fn=die_with_parent(signal.SIGKILL)
        )
        super().run(events, ignore_signals)


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
        try:
            return run(args.root.resolve(), args.procfile)
        except LocalStackError as exc:
            print(f"notif-local: {exc}", file=sys.stderr)
            return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
