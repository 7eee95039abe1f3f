"""Loopback ports: finding a free one, waiting for one to answer."""

from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path

from notif_local.lifetime import LocalStackError, describe

_LOW = 20_000
_taken: set[int] = set()


def _ephemeral_start() -> int:
    """Where the kernel starts handing out ports to outgoing connections (32768 usually)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port() -> int:
    """A loopback port free now, below the ephemeral range: a port the kernel hands out to
    outgoing connections could be taken by one between this call and the server's bind
    (seen under load), and never twice in one process."""
    high = _ephemeral_start()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(_LOW, high) if high > _LOW + 100 else 0
        if port in _taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            found = int(s.getsockname()[1])
        _taken.add(found)
        return found
    raise RuntimeError("no free loopback port")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_for_port(port: int, timeout: float, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port, host):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing answered on {host}:{port} within {timeout:.0f}s")


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()  # local address, remote address, state (0A: listening)...
            if len(fields) > 9 and fields[3] == "0A" and fields[1].endswith(f":{port:04X}"):
                inodes.add(fields[9])
    return inodes


def who_listens(port: int) -> int | None:
    """The pid listening on TCP ``port``, when /proc shows it (other users' processes are
    hidden from a non-root caller)."""
    sockets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not sockets:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in sockets:
                    return int(entry.name)
        except OSError:
            continue
    return None


def check_free(port: int, what: str, setting: str = "") -> None:
    """Fail with a message that says who holds ``port``, rather than talk to a stranger (or a
    server an earlier run left) as if it were ours."""
    if not port_open(port):
        return
    pid = who_listens(port)
    holder = describe(pid) if pid is not None else "another process"
    move = f"set {setting} to another port" if setting else "choose another port"
    raise LocalStackError(
        f"{what}: port {port} on 127.0.0.1 is already in use by {holder}. Stop it, or {move}."
    )
