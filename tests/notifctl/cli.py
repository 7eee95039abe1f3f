"""Running ``notifctl`` as an operator does: its own process, against one test stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import Stack


def notifctl(stack: Stack, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``notifctl *args`` on ``stack``'s database and queues named with ``prefix``."""
    env = {**stack.env, "PATH": "/usr/bin:/bin", "QUEUE_PREFIX": prefix}
    return subprocess.run(
        [str(Path(sys.executable).with_name("notifctl")), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
