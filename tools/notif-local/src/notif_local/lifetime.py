"""Processes that end with the run that started them, and what a killed run left behind.

A server of the local stack must not outlive the run, even one killed with SIGKILL (an IDE's
stop button, the OOM killer, ``kill -9``), which runs no ``finally``. On Linux,
``prctl(PR_SET_PDEATHSIG)`` asks the kernel to signal a process when its parent dies;
:func:`die_with_parent` sets it in the child between fork and exec (a ``preexec_fn``), and
:func:`end_with_parent` sets it for the calling process itself.

Caveat: for the kernel the parent is the *thread* that forked the child, not its process, so
the signal fires when that thread exits even if the process lives on. :func:`die_with_parent`
therefore sets it only for a child started from the main thread, whose end is the process's
end; a server started from another thread (the chaos run starts its stack through
``asyncio.to_thread``) gets no signal and is left to the next run's clean-up below.

What a run leaves anyway (a kill before the signal was set, a server that ignores it) the next
run on the same ``.local`` directory cleans up. It first takes ``.local/notif-local.lock``, a
``flock`` the kernel releases however its holder ends: a held lock means a live run, whose
servers are left alone. Each server's pid file records its pid and start time, and a leftover
is stopped only while that pid is still the very process recorded (same start time in
``/proc/<pid>/stat``, same program in its command line): a reused pid is never signalled.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1


class LocalStackError(RuntimeError):
    """Something the user sorts out (a port or the ``.local`` directory in use): ``notif-local``
    prints the message alone, without a traceback."""


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()  # resolved once here: a preexec_fn must not import or load anything


def end_with_parent(sig: int, parent: int | None = None) -> bool:
    """Have the kernel send ``sig`` to this process when the thread that forked it exits.

    With ``parent`` (the pid that forked us), a parent already gone before the call ends this
    process at once: its signal would never come. Returns whether the signal is set."""
    if _PRCTL is None or _PRCTL(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        return False
    if parent is not None and os.getppid() != parent:
        os._exit(1)
    return True


def die_with_parent(sig: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` for a child that gets ``sig`` when this process ends, or None (not
    Linux, or not the main thread: see the module's caveat)."""
    if _PRCTL is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def preexec() -> None:
        end_with_parent(sig, parent)

    return preexec


def _stat(pid: int) -> tuple[str, int] | None:
    """The state letter and start time (clock ticks since boot) of ``pid``, if it exists."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    return fields[0], int(fields[19])


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    found = _stat(pid)
    return found is not None and found[0] not in "ZX"


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").rstrip("\0").split("\0") if raw else []


def describe(pid: int) -> str:
    command = " ".join(cmdline(pid))
    return f"pid {pid} ({command[:160]})" if command else f"pid {pid}"


def record(pid_file: Path, pid: int) -> None:
    """Save ``pid`` and its start time, which tell it apart from a later process on that pid."""
    found = _stat(pid)
    if found is not None:
        pid_file.write_text(f"{pid} {found[1]}\n")


def recorded(pid_file: Path, program: str) -> int | None:
    """The pid in ``pid_file`` while it is still that process, running ``program``."""
    try:
        pid, started = (int(x) for x in pid_file.read_text().split())
    except (OSError, ValueError):
        return None
    found = _stat(pid)
    if found is None or found[0] in "ZX" or found[1] != started:
        return None
    return pid if program in " ".join(cmdline(pid)) else None


def end_process(pid: int, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """``sig``, then SIGKILL after ``timeout``, to a process that need not be our child."""
    for current, wait in ((sig, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, current)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(pid):
                return
            time.sleep(0.05)


def end_leftover(pid_file: Path, program: str, sig: int = signal.SIGTERM) -> int | None:
    """Stop the process an earlier run recorded in ``pid_file``, if it still runs; forget the
    file either way. Returns the pid stopped. Call only under :class:`RunLock`."""
    pid = recorded(pid_file, program)
    if pid is not None:
        end_process(pid, sig)
    pid_file.unlink(missing_ok=True)
    return pid


class RunLock:
    """One run per ``.local`` directory: an exclusive ``flock`` held while the run lives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            who = describe(int(holder)) if holder.isdigit() else "another process"
            raise LocalStackError(
                f"{self.path.parent} is in use by another notif-local run ({who}); stop that "
                "one first (Ctrl-C in its terminal), or give this one another directory "
                "(NOTIF_LOCAL_DIR or --root)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None
