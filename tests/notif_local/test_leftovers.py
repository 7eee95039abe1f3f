"""What a killed run leaves in ``.local``: stopped when it is ours, never when it is not."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from notif_local.cli import exec_form
from notif_local.lifetime import LocalStackError, RunLock, alive, end_leftover, record
from notif_local.ports import check_free
from notif_local.postgres import EmbeddedPostgres
from notif_local.stack import LocalStack, Ports


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process, which nothing here may kill."""
    proc = subprocess.Popen(["sleep", "120"])
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_run_on_the_same_directory_is_refused_and_says_who_holds_it(
    tmp_path: Path,
) -> None:
    first = RunLock(tmp_path / "notif-local.lock")
    first.acquire()
    try:
        with pytest.raises(
            LocalStackError, match=rf"in use by another notif-local run \(pid {os.getpid()}"
        ):
            RunLock(tmp_path / "notif-local.lock").acquire()
    finally:
        first.release()
    again = RunLock(tmp_path / "notif-local.lock")
    again.acquire()  # free once released (and, by the kernel, once its holder dies)
    again.release()


def test_a_pid_file_stops_only_the_very_process_it_recorded(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    pid_file = tmp_path / "sqs.pid"
    record(pid_file, sleeper.pid)
    pid, started = pid_file.read_text().split()
    pid_file.write_text(f"{pid} {int(started) + 1}\n")  # the pid, reused by another process
    assert end_leftover(pid_file, "sleep") is None
    assert not pid_file.exists(), "a stale pid file is forgotten"
    record(pid_file, sleeper.pid)
    assert end_leftover(pid_file, "ministack") is None, "same process, another program"
    assert alive(sleeper.pid)
    record(pid_file, sleeper.pid)
    assert end_leftover(pid_file, "sleep") == sleeper.pid
    assert sleeper.wait(5) == -signal.SIGTERM


def test_a_stale_postmaster_pid_is_removed_and_its_pid_left_alone(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    postgres = EmbeddedPostgres(tmp_path / "pgdata", port=1)
    postgres.data_dir.mkdir()
    pid_file = postgres.data_dir / "postmaster.pid"
    gone = subprocess.Popen(["true"])
    gone.wait()
    for pid in (gone.pid, sleeper.pid):  # a dead pid; a live one that is not a postmaster
        pid_file.write_text(f"{pid}\n{postgres.data_dir}\n")
        assert postgres.clear_leftover() is None
        assert not pid_file.exists()
    assert alive(sleeper.pid)


def test_a_taken_port_is_reported_with_its_holder(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(
            LocalStackError, match=rf"port {port} .* in use by pid {os.getpid()} .*LOCAL_SQS_PORT"
        ):
            check_free(port, "local SQS (ministack)", "LOCAL_SQS_PORT")


def notif_local_run(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_URL", "_PORT"))}
    return subprocess.run(
        [str(Path(sys.executable).with_name("notif-local")), "run", "--root", str(root)],
        env={**clean, "PROMETHEUS_PORT": "0", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_notif_local_run_says_what_is_in_its_way_in_one_line(tmp_path: Path) -> None:
    lock = RunLock(tmp_path / "notif-local.lock")
    lock.acquire()
    try:
        done = notif_local_run(tmp_path)
    finally:
        lock.release()
    assert done.returncode == 1
    assert done.stderr.startswith("notif-local: "), done.stderr
    assert f"another notif-local run (pid {os.getpid()}" in done.stderr
    assert "Traceback" not in done.stderr
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = str(listener.getsockname()[1])
        done = notif_local_run(tmp_path, INGEST_PORT=port)
    assert done.returncode == 1
    assert f"ingest: port {port} on 127.0.0.1 is already in use by pid {os.getpid()}" in done.stderr
    assert "set INGEST_PORT to another port" in done.stderr
    assert not (tmp_path / "pgdata").exists(), "nothing was started"


def test_procfile_commands_replace_the_shell() -> None:
    assert exec_form("notif-ingest") == "exec notif-ingest"
    for command in ("a && b", "FOO=1 notif-ingest", "exec notif-ingest", "a | b", "cd x; y"):
        assert exec_form(command) == command


# A stack started off the main thread gets no parent-death signal (the thread could end first
# and take the servers with it), so killing this process leaves its servers running, as a
# run killed before this protection, or on another system, would.
HOLDER = """
import json, sys, threading, time
from pathlib import Path
from notif_local.stack import LocalStack, Ports
stack = LocalStack(Path(sys.argv[1]), ports=Ports(**json.loads(sys.argv[2])), outer_env={})
started = threading.Thread(target=stack.start)
started.start()
started.join()
print(json.dumps({"postgres": stack.postgres._proc.pid, "sqs": stack.sqs.pid,
                  "valkey": stack.valkey.pid}), flush=True)
time.sleep(300)
"""


def test_the_servers_a_killed_run_left_are_stopped_by_the_next_one(tmp_path: Path) -> None:
    root = tmp_path / "local"
    ports = Ports.all_free()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root), json.dumps(asdict(ports))],
        stdout=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
    )
    try:
        assert holder.stdout is not None
        left = json.loads(holder.stdout.readline() or "{}")
        assert set(left) == {"postgres", "sqs", "valkey"}, "the holder did not start"
        stack = LocalStack(root, ports=ports, outer_env={})
        with pytest.raises(LocalStackError, match=f"pid {holder.pid}"):
            stack.start()  # a live run: none of its servers is touched
        assert all(alive(pid) for pid in left.values())
    finally:
        holder.kill()
        holder.wait()
    assert all(alive(pid) for pid in left.values()), "no parent-death signal off the main thread"

    started = time.monotonic()
    try:
        stack.start()
        assert not [name for name, pid in left.items() if alive(pid)]
        assert time.monotonic() - started < 30
        assert stack.sqs is not None
        assert stack.sqs.pid not in left.values()
        assert "database system is shut down" in (root / "pgdata" / "server.log").read_text()
    finally:
        stack.stop()
        for pid in left.values():  # in case: never leave them behind
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
