"""``make bench`` at smoke scale: every phase runs, writes its figures and plot, and the
end-to-end phase loses nothing and receives nothing unexpected."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def test_smoke_bench_writes_figures_and_loses_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    (path,) = re.findall(r"written to (\S+)", done.stdout)
    result = json.loads((ROOT / path).read_text())
    assert (ROOT / path).with_suffix(".png").stat().st_size > 10_000
    assert result["ceilings"]["bare_fastapi"]["per_second"] > 0
    assert result["ceilings"]["sandbox_alone"]["per_second"] > 0
    assert result["ingest"]["max"]["per_second"] > 0
    e2e = result["e2e_80"]
    assert e2e["accepted"] == 60
    assert e2e["lost"] == 0
    assert e2e["not_read_within_drain"] == 0
    assert e2e["final_statuses"] == {"read": 60, "unfinished": 0}
    assert e2e["unexpected"] == 0
    assert e2e["duplicates"] == 0
    assert e2e["accepted_to_read"]["p50_ms"] > 0
    assert set(e2e["cpu_seconds_per_1000"]) >= {"ingest", "dispatcher", "ledger"}
    assert "whatsapp-notif benchmark (smoke)" in done.stdout
    # A progress line as each phase starts.
    phases = re.findall(r"^\[bench [\d:]+\] (\w+)", done.stderr, re.MULTILINE)
    assert phases == ["ceilings", "ingest", "e2e_80"], done.stderr[-2000:]
