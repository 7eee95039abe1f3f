"""``notif-local run`` (what ``make run`` calls), as a user runs it: start, send, Ctrl-C, rerun;
and killed outright (SIGKILL), then rerun."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from notif_local.lifetime import alive
from notif_local.ports import free_port, port_open

pytestmark = pytest.mark.e2e

CONFIGURED = (
    "DATABASE_URL",
    "SQS_ENDPOINT_URL",
    "REDIS_URL",
    "WHATSAPP_API_BASE_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_PROFILE",
)


def start(root: Path, ports: dict[str, int], log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in CONFIGURED}
    env.update({name: str(port) for name, port in ports.items()})
    # Consumers poll 2 s at a time, so a Ctrl-C does not wait out a 10 s poll: the same
    # stop, the same checks after it, sooner.
    env["SQS_WAIT_SECONDS"] = "2"
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("notif-local")), "run", "--root", str(root)],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal gives it
    )


def wait_banner(proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "curl -s -X POST" in text:
            return text
        assert proc.poll() is None, text[-3000:]
        time.sleep(0.2)
    raise TimeoutError(log.read_text(errors="replace")[-3000:])


def ctrl_c(proc: subprocess.Popen[bytes]) -> int:
    """What a terminal does on Ctrl-C: SIGINT to the whole foreground process group."""
    os.killpg(proc.pid, signal.SIGINT)
    return proc.wait(90)


def free_ports() -> dict[str, int]:
    return {
        "INGEST_PORT": free_port(),
        "LEDGER_PORT": free_port(),
        "DISPATCHER_PORT": free_port(),
        "RELAY_PORT": free_port(),
        "CALLBACKS_PORT": free_port(),
        "SANDBOX_PORT": free_port(),
        "LOCAL_PG_PORT": free_port(),
        "LOCAL_SQS_PORT": free_port(),
        "PROMETHEUS_PORT": free_port(),  # Debian's prometheus is installed by `make test`
    }


def test_run_serves_a_notification_to_read_and_survives_a_restart(tmp_path: Path) -> None:
    root = tmp_path / "local"
    ports = free_ports()
    base = f"http://127.0.0.1:{ports['INGEST_PORT']}"
    proc = start(root, ports, tmp_path / "run1.log")
    try:
        text = wait_banner(proc, tmp_path / "run1.log")
        assert re.search(r"whatsapp-notif is up \(\d+\.\d+s\)", text)
        key = (root / "dev-api-key").read_text().strip()
        assert key.startswith("wn_live_")
        assert key not in text, "the full API key must not be printed"
        headers = {"X-API-Key": key}
        printed = next(line for line in text.splitlines() if "curl -s -X POST" in line)
        body = json.loads(shlex.split(printed)[-1])  # the curl's -d argument, as printed
        nid = httpx.post(base + "/v1/notifications", json=body, headers=headers).json()["id"]
        deadline = time.monotonic() + 15
        status = ""
        while status != "read" and time.monotonic() < deadline:
            status = httpx.get(f"{base}/v1/notifications/{nid}", headers=headers).json()["status"]
            time.sleep(0.1)
        assert status == "read"
        scraped = f"http://127.0.0.1:{ports['PROMETHEUS_PORT']}/api/v1/query"
        up: list[dict[str, Any]] = []
        services = ("INGEST_PORT", "RELAY_PORT", "DISPATCHER_PORT", "LEDGER_PORT", "CALLBACKS_PORT")
        while len(up) < len(services) and time.monotonic() < deadline + 30:
            with contextlib.suppress(httpx.HTTPError):
                up = httpx.get(scraped, params={"query": "up == 1"}).json()["data"]["result"]
            time.sleep(0.5)
        # The local Prometheus scrapes every service process, and nothing else.
        scraped_ports = sorted(int(t["metric"]["instance"].rsplit(":", 1)[1]) for t in up)
        assert scraped_ports == sorted(ports[name] for name in services)
        # notifctl, in the environment the run wrote, reaches the local queues
        notifctl = Path(sys.executable).parent / "notifctl"
        stats = subprocess.run(
            ["sh", "-c", f"set -a; . {root / 'env'}; set +a; exec {notifctl} queues stats"],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")},
        )
        assert stats.returncode == 0, stats.stdout + stats.stderr
        assert "dispatch" in stats.stdout
    finally:
        code = ctrl_c(proc)
    assert code in (0, 130), (tmp_path / "run1.log").read_text()[-3000:]
    assert not any(port_open(p) for p in ports.values()), "something still listens after Ctrl-C"

    proc = start(root, ports, tmp_path / "run2.log")
    try:
        wait_banner(proc, tmp_path / "run2.log")
        assert (root / "dev-api-key").read_text().strip() == key, "the saved key is reused"
        view = httpx.get(f"{base}/v1/notifications/{nid}", headers={"X-API-Key": key}).json()
        assert view["status"] == "read"
    finally:
        ctrl_c(proc)


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid``, with its command line."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    found: dict[int, str] = {}
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        with contextlib.suppress(OSError):
            found[child] = (
                Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            ).decode()
        todo += children.get(child, [])
    return found


def test_a_killed_run_leaves_nothing_running_and_the_next_one_starts(tmp_path: Path) -> None:
    root = tmp_path / "local"
    ports = free_ports()
    proc = start(root, ports, tmp_path / "run1.log")
    try:
        wait_banner(proc, tmp_path / "run1.log")
        tree = descendants(proc.pid)
        commands = "\n".join(tree.values())
        for program in (
            "postgres -D",
            "ministack",
            "valkey-server",
            "notif-ingest",
            "notif-relay",
            "notif-ledger",
            "notif-ledger callbacks",
            "notif-dispatcher",
            "wa-sandbox",
            "prometheus",
        ):
            assert program in commands, commands
        proc.kill()  # SIGKILL to notif-local alone: no finally, no honcho shutdown
        proc.wait(10)
        deadline = time.monotonic() + 10
        while (left := [pid for pid in tree if alive(pid)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, "\n".join(tree[pid] for pid in left)
        assert not any(port_open(p) for p in ports.values()), "something still listens"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    key = (root / "dev-api-key").read_text().strip()

    proc = start(root, ports, tmp_path / "run2.log")
    try:
        wait_banner(proc, tmp_path / "run2.log", timeout=60)
        assert (root / "dev-api-key").read_text().strip() == key, "the saved key is reused"
        body = {"to": "+15551234567", "template": {"name": "hello_world", "language": "en_US"}}
        sent = httpx.post(
            f"http://127.0.0.1:{ports['INGEST_PORT']}/v1/notifications",
            json=body,
            headers={"X-API-Key": key},
        )
        assert sent.status_code == 202, sent.text
    finally:
        code = ctrl_c(proc)
    assert code in (0, 130), (tmp_path / "run2.log").read_text()[-3000:]
