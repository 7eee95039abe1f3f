"""Loopback ports: finding a free one, waiting for one to answer."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

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
