"""The import boundaries of pyproject.toml's ``[tool.importlinter]``: the libraries import
no service or tool, the services import neither each other nor the tools. ``lint-imports``
runs as ``make lint`` runs it; a contract this repository breaks on purpose shows that it
reads the real import graph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_import_boundary_is_kept() -> None:
    done = lint_imports(ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 kept, 0 broken" in done.stdout


def test_a_broken_boundary_fails(tmp_path: Path) -> None:
    """notifctl, a tool, does import ingest's keys: forbidding it must fail the run."""
    config = tmp_path / "broken.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["notifctl", "ingest"]\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "notifctl without ingest"\ntype = "forbidden"\n'
        'source_modules = ["notifctl"]\nforbidden_modules = ["ingest"]\n'
    )
    done = lint_imports(config)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "notifctl without ingest BROKEN" in done.stdout
