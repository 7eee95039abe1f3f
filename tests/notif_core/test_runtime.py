"""The process skeleton every service shares: its command line (``run_command``) and the
probe server and stop of a worker (``Probes``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from notif_core.runtime import Probes, run_command
from notif_core.settings import CoreSettings
from notif_local.ports import free_port


def test_an_unknown_argument_is_a_usage_error_before_anything_starts() -> None:
    served: list[CoreSettings] = []

    async def serve(settings: CoreSettings) -> None:
        served.append(settings)

    with pytest.raises(SystemExit) as exited:
        run_command("ledger", CoreSettings, serve, subcommands={"callbacks": serve}, argv=["x"])
    assert exited.value.code == "usage: notif-ledger [callbacks]"
    with pytest.raises(SystemExit) as exited:
        run_command("relay", CoreSettings, serve, migrations=Path("m"), argv=["--help"])
    assert exited.value.code == "usage: notif-relay [migrate [REVISION] | downgrade REVISION]"
    assert served == []


def test_a_service_command_names_its_usage() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("notif-ledger")), "project"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "usage: notif-ledger [callbacks | migrate [REVISION] | downgrade REVISION]"
    )


async def test_probes_answer_while_the_work_runs_and_stop_it_first() -> None:
    port = free_port()
    stopping = asyncio.Event()
    stopped: list[str] = []
    work_done = asyncio.Event()

    async def readiness() -> tuple[bool, dict[str, Any]]:
        return not stopped, {"database": {"connected": True}}

    probes = Probes(
        "t",
        readiness,
        "127.0.0.1",
        port,
        stop=(lambda: stopped.append("consumer"), lambda: stopped.append("sampler")),
        stopping=stopping,
    )
    async with probes, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(100):
            if probes.server.started:
                break
            await asyncio.sleep(0.05)
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/v1/health")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
        stopping.set()
        for _ in range(100):
            if stopped:
                break
            await asyncio.sleep(0.01)
        assert stopped == ["consumer", "sampler"]
        assert probes.server.should_exit
        work_done.set()
    assert work_done.is_set()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
