"""``wa-sandbox``: run the simulator alone on 127.0.0.1:3900."""

from __future__ import annotations

import uvicorn

from wa_sandbox.app import create_app
from wa_sandbox.settings import SandboxSettings


def run() -> None:
    settings = SandboxSettings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
    )
