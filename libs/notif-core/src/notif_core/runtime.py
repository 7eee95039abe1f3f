"""Process plumbing shared by the services: signal handling and an embedded HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

import uvicorn
from starlette.types import ASGIApp


def on_stop_signals(callback: Callable[[], None]) -> None:
    """Call ``callback`` once on SIGTERM or SIGINT (Kubernetes stop, Ctrl-C)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, callback)


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the program embedding it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_server(
    app: ASGIApp, host: str, port: int, *, log_level: str = "warning"
) -> uvicorn.Server:
    """A uvicorn server to ``await server.serve()`` inside an existing event loop.

    Signal handlers stay with the caller, which decides the shutdown order.
    """
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level.lower(), access_log=False, lifespan="on"
    )
    return EmbeddedServer(config)
