"""Background server processes of the local stack (local SQS, Valkey).

They run in their own session so a Ctrl-C aimed at the app processes does not reach them;
the stack stops them last, in order, after the apps have drained.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from notif_local.ports import wait_for_port


@dataclass
class ServerProcess:
    name: str
    argv: Sequence[str]
    port: int
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    _proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                list(self.argv),
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            wait_for_port(self.port, timeout)
        except TimeoutError:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} did not start:\n{tail}") from None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (a clean shutdown, which lets the local SQS endpoint save its state)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
