"""``notifctl keys ensure``: the tenant, its senders and an active key, each made only where
missing; and the development key of ``notif-local``, which goes through it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import Stack

from notif_local.devtenant import ensure_dev_key


def ensure(stack: Stack, *args: str, key: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("notifctl")), "keys", "ensure", *args],
        input=key + "\n",
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": stack.database_url},
    )


def number() -> str:
    return f"{time.time_ns() % 10**15:015d}"


def test_ensure_keeps_a_working_key_and_adds_what_is_missing(stack: Stack) -> None:
    tenant, first, second = f"ensure-{time.time_ns()}", number(), number()
    made = ensure(stack, "--tenant", tenant, "--phone-number-id", first, "--json")
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    assert created["created"] is True
    assert created["phone_number_ids"] == [first]
    assert created["key"].startswith("wn_live_")
    assert created["prefix"] == created["key"][:12]

    again = ensure(
        stack,
        *("--tenant", tenant, "--phone-number-id", second, "--key-stdin", "--json"),
        key=created["key"],
    )
    assert again.returncode == 0, again.stderr
    kept = json.loads(again.stdout)
    assert kept["created"] is False
    assert kept["key"] == created["key"]
    assert kept["phone_number_ids"] == [first, second]

    stale = ensure(stack, "--tenant", tenant, "--key-stdin", "--json", key="wn_live_gone")
    assert json.loads(stale.stdout)["created"] is True


def test_another_tenants_number_is_refused_or_left_out(stack: Stack) -> None:
    held, owner, tenant = number(), f"owner-{time.time_ns()}", f"late-{time.time_ns()}"
    assert ensure(stack, "--tenant", owner, "--phone-number-id", held).returncode == 0
    refused = ensure(stack, "--tenant", tenant, "--phone-number-id", held)
    assert refused.returncode == 2
    assert owner in refused.stderr
    skipped = ensure(stack, "--tenant", tenant, "--phone-number-id", held, "--skip-taken", "--json")
    assert skipped.returncode == 0, skipped.stderr
    assert json.loads(skipped.stdout)["phone_number_ids"] == []
    assert owner in skipped.stderr


def test_the_dev_key_is_saved_and_reused(stack: Stack, tmp_path: Path) -> None:
    key_file = tmp_path / "dev-api-key"
    key = ensure_dev_key(stack.database_url, key_file)
    assert key_file.read_text().strip() == key
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert ensure_dev_key(stack.database_url, key_file) == key
    key_file.write_text("wn_live_revoked_or_never_was\n")
    fresh = ensure_dev_key(stack.database_url, key_file)
    assert fresh != key
    assert key_file.read_text().strip() == fresh
