"""``make chaos`` at smoke scale: one fault of each kind under load, then the total-queue
check. Nothing accepted may be lost, nothing unsubmitted may reach the sandbox, and the
ledger must equal its rebuild. A hostile tenant's borderline inputs get no 5xx and all it
got accepted ends final, while the other tenant's callbacks all arrive."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def test_smoke_chaos_loses_nothing() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaos.run",
            "--smoke",
            "--seed",
            "20261127",
            "--rate",
            "20",
            "--seconds",
            "15",
            "--drain",
            "120",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "seed 20261127" in done.stdout  # printed, so a failure can be replayed
    (path,) = re.findall(r"written to (\S+)", done.stdout)
    result = json.loads((ROOT / path).read_text())
    assert result["accepted"] == result["submitted"] == 300
    assert result["lost_count"] == 0
    assert result["unexpected"] == 0
    assert not any(result["rebuild_differences"].values())
    kinds = {(f["kind"], f["target"]) for f in result["faults"]}
    assert {("kill9", "dispatcher"), ("kill9", "ledger"), ("kill9", "ingest")} <= kinds
    assert {("restart", "postgres"), ("restart", "sqs"), ("5xx_storm", "sandbox")} <= kinds
    assert all(f["ended"] is not None for f in result["faults"])  # every fault was applied
    assert ("hostile_tenant", "ingest") in kinds
    hostile = result["hostile_tenant"]
    assert hostile["requests"] > 0
    assert hostile["accepted"] > 0
    assert {"integer_400_digits", "nested_3000", "largest_safe_integer"} <= set(hostile["answers"])
    assert hostile["server_errors"] == 0
    assert hostile["unexpected_answers"] == []
    assert hostile["accepted_not_final"] == []
    assert hostile["hostile_receiver_connections"] > 0  # the receivers were really hit
    callbacks = result["main_callbacks"]
    assert callbacks["read_with_callbacks"] > 0
    assert callbacks["missing"] == []
    for duplicate in result["duplicates"]:
        assert duplicate["explained_by"] != "unexplained", duplicate
