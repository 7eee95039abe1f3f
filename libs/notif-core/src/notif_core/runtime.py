"""Process plumbing shared by the services: signal handling, an embedded HTTP server, and
an exit code that tells the orchestrator when the work stopped."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from notif_core.logging import get_logger
from notif_core.settings import CoreSettings

log = get_logger(__name__)


def run_service(main: Coroutine[Any, Any, None]) -> None:
    """Run a service's ``serve`` coroutine; if it fails (a consumer loop died, a start-up
    check refused), log why and exit with status 1, so the process does not linger with
    green probes and no work being done, and the orchestrator restarts it."""
    try:
        asyncio.run(main)
    except Exception as exc:
        log.error("service_failed", error=str(exc), exc_info=exc)
        raise SystemExit(1) from None


def refuse_to_start(settings: CoreSettings, *problems: str | None) -> None:
    """Start-up checks every service's entry point runs before serving: exit with status 1
    and a one-line reason (logged too) when the configuration must not run, such as the
    Cloud API pointing at Meta while a secret is still the sandbox's. ``problems`` are the
    service's own findings (None: fine). Reasons name settings, never their values."""
    reasons = [r for r in (settings.production_problem(), *problems) if r is not None]
    if not reasons:
        return
    reason = "; ".join(reasons)
    log.error("refused_to_start", reason=reason)
    raise SystemExit(f"refusing to start: {reason}")


def on_stop_signals(callback: Callable[[], None], stopping: asyncio.Event | None = None) -> None:
    """Call ``callback`` on SIGTERM or SIGINT (Kubernetes stop, Ctrl-C); or, when a service
    runs inside another program (a test), once ``stopping`` is set, leaving signals alone."""
    loop = asyncio.get_running_loop()
    if stopping is not None:

        async def wait_then_stop() -> None:
            await stopping.wait()
            callback()

        task = loop.create_task(wait_then_stop())
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, callback)


_BACKGROUND: set[asyncio.Task[None]] = set()

GC_YOUNG_THRESHOLD = 20_000
"""Allocations between young-generation collections (CPython's default is 700)."""


def tune_gc() -> None:
    """Fewer garbage-collector passes on a request path, once start-up is done.

    Everything alive now (modules, the app, pools) is moved out of the collector's sight
    (``gc.freeze``), and young collections run every 20,000 allocations instead of 700: a
    request allocates hundreds of short-lived objects, and collecting them that often cost
    about a tenth of the ingest API's CPU. Reference counting still frees almost everything
    at once; the collector only finds cycles, a little later.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


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
