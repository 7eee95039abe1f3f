"""Where every benchmark writes its figures: ``bench/results/<name>-<UTC>.json``."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def write_result(name: str, command: str, figures: dict[str, Any]) -> Path:
    """Stamp the figures with time, command and cores; write, print, return the path."""
    now = datetime.now(UTC)
    result = {"at": now.isoformat(), "command": command, "cores": os.cpu_count(), **figures}
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {path}")
    return path
