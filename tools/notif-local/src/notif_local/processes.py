"""Background server processes of the local stack (local SQS, Valkey).

They run in their own session so a Ctrl-C aimed at the app processes does not reach them;
the stack stops them last, in order, after the apps have drained. Each one also gets
``stop_signal`` from the kernel when the run dies without stopping it (a SIGKILL), and records
itself in a pid file so that the next run can stop it if that did not happen (see
:mod:`notif_local.lifetime`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from notif_local.lifetime import die_with_parent, end_leftover, record
from notif_local.ports import check_free, port_open


@dataclass
class ServerProcess:
    name: str
    argv: Sequence[str]
    port: int
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    pid_file: Path | None = None
    port_setting: str = ""  # the variable that moves it to another port, for messages
    stop_signal: int = signal.SIGTERM
    _proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start it, after stopping the same server left by an earlier run (its pid file).

        Leftovers are stopped only by a caller holding the directory's ``RunLock``, which is
        what ``LocalStack`` does."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.pid_file is not None:
            end_leftover(self.pid_file, self.argv[0], self.stop_signal)
        check_free(self.port, self.name, self.port_setting)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                list(self.argv),
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent(self.stop_signal),
            )
        if self.pid_file is not None:
            record(self.pid_file, self._proc.pid)
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.name} did not start:\n{tail}")
            time.sleep(0.05)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (a clean shutdown, which lets the local SQS endpoint save its state)."""
        if self._proc is None or self._proc.poll() is not None:
            self._forget()
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._forget()

    def _forget(self) -> None:
        if self.pid_file is not None and self._proc is not None:
            self.pid_file.unlink(missing_ok=True)
