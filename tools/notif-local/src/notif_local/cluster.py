"""The six processes of the system, started for real as subprocesses on loopback ports:
what the end-to-end tests, the benchmark and the chaos run drive, kill and restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from notif_core.settings import CoreSettings
from notif_local.devtenant import ensure_dev_key
from notif_local.lifetime import die_with_parent
from notif_local.stack import LocalStack, create_queues, migrate_all

BIN = Path(sys.executable).parent
COMMANDS = {
    "sandbox": ["wa-sandbox"],
    "ingest": ["notif-ingest"],
    "relay": ["notif-relay"],
    "ledger": ["notif-ledger"],
    "callbacks": ["notif-ledger", "callbacks"],
    "dispatcher": ["notif-dispatcher"],
}
"""Each process's command line (the program in the virtualenv's ``bin``, then arguments)."""


@dataclass
class Services:
    env: dict[str, str]
    ports: dict[str, int]
    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def sandbox(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """The sandbox's control API: GET ``path``, or POST ``body`` to it."""
        url = self.url("sandbox") + path
        answer = (
            httpx.post(url, json=body, timeout=30)
            if body is not None
            else httpx.get(url, timeout=60)
        )
        answer.raise_for_status()
        return answer.json()

    def sandbox_cap(self, mps: int) -> None:
        """Every sender's throughput cap (a config change replaces a list whole)."""
        senders = self.sandbox("/_sandbox/config")["senders"]
        for sender in senders:
            sender["throughput_mps"] = mps
        self.sandbox("/_sandbox/config", {"senders": senders})

    def start(self, name: str, timeout: float = 90) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [str(BIN / COMMANDS[name][0]), *COMMANDS[name][1:]],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(signal.SIGTERM),  # a killed test run takes them along
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited at start:\n{self.log(name)[-3000:]}")
            try:
                if httpx.get(self.url(name) + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{name} not healthy in {timeout}s:\n{self.log(name)[-3000:]}")

    def kill9(self, name: str) -> None:
        """SIGKILL: no drain, no goodbye (a crash or an OOM kill)."""
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait(30)

    def signal(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` and wait for the exit code."""
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        return proc.wait(timeout)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for name in list(self.procs):
            proc = self.procs.pop(name)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def prepare(stack: LocalStack, root: Path, overrides: dict[str, str]) -> tuple[Services, str]:
    """Start the stack's embedded parts, migrate, create the queues and a development key;
    return the six services (not started yet) with their environment, and the key."""
    env = stack.start()
    os.environ.update(env)
    settings = CoreSettings()
    migrate_all(settings.database_url)
    create_queues(settings, max_receive_count=15)  # above the chaos run's MAX_ATTEMPTS
    key = ensure_dev_key(settings.database_url, root / "key")
    ports = stack.ports.services()
    secret = "local-app-secret"  # noqa: S105 - the local sandbox's webhook secret
    service_env = {
        **env,
        "WHATSAPP_APP_SECRET": secret,
        "SANDBOX_APP_SECRET": secret,
        "PROMETHEUS_PORT": "0",
        # One business's load rig: the chaos run's second tenant has no number of its own
        # and shares the sandbox's one sender with the dev tenant.
        "SINGLE_TENANT": "true",
        **overrides,
    }
    (root / "logs").mkdir(parents=True, exist_ok=True)
    return Services(env=service_env, ports=ports, log_dir=root / "logs"), key
