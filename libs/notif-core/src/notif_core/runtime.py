"""Process plumbing shared by the services: one command line for every service process
(:func:`run_command`), one probe server and stop for every worker (:class:`Probes`), signal
handling, an embedded HTTP server, and an exit code that tells the orchestrator when the work
stopped."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

import uvicorn
from starlette.types import ASGIApp

from notif_core import __version__
from notif_core.db import migration_command
from notif_core.health import Heartbeat, Readiness, probes_app
from notif_core.logging import configure_logging, get_logger
from notif_core.sentry import setup_sentry
from notif_core.settings import CoreSettings
from notif_core.telemetry import setup_tracing

log = get_logger(__name__)

S = TypeVar("S", bound=CoreSettings)
EventLoop = Literal["asyncio", "uvloop"]


def run_command(
    name: str,
    settings_type: type[S],
    serve: Callable[[S], Coroutine[Any, Any, None]],
    *,
    migrations: Path | None = None,
    subcommands: Mapping[str, Callable[[S], Coroutine[Any, Any, None]]] | None = None,
    problems: Callable[[S], Iterable[str | None]] | None = None,
    event_loop: EventLoop = "asyncio",
    argv: Sequence[str] | None = None,
) -> None:
    """The command line of a service, the same for each: ``notif-<name>`` serves;
    ``notif-<name> <subcommand>`` serves another process of the service under that name
    (the ledger's ``callbacks``); with ``migrations``, ``migrate [REVISION]`` and
    ``downgrade REVISION`` move the ``<name>`` schema and exit (the chart's migration Job,
    notif-local); anything else is a usage error.

    Before serving: :func:`refuse_to_start` with the service's own ``problems``, then Sentry
    and tracing under the process's name; then :func:`run_service`."""
    args = list(sys.argv[1:] if argv is None else argv)
    others = dict(subcommands or {})
    forms = [*others, *(("migrate [REVISION]", "downgrade REVISION") if migrations else ())]
    usage = f"usage: notif-{name}" + (f" [{' | '.join(forms)}]" if forms else "")
    process = args[0] if len(args) == 1 and args[0] in others else name
    migrating = migrations is not None and args[:1] in (["migrate"], ["downgrade"])
    if args and process == name and not migrating:
        sys.exit(usage)
    settings = settings_type()
    configure_logging(process, settings.log_level)
    if migrations is not None and migrating:
        if not migration_command(args, migrations, settings.database_url, name):
            sys.exit(usage)
        log.info("migrated", schema=name, command=" ".join(args))
        return
    refuse_to_start(settings, *(problems(settings) if problems else ()))
    setup_sentry(process)
    setup_tracing(process)
    run_service(others.get(process, serve)(settings), event_loop=event_loop)


def run_service(main: Coroutine[Any, Any, None], *, event_loop: EventLoop = "asyncio") -> None:
    """Run a service's ``serve`` coroutine; if it fails (a consumer loop died, a start-up
    check refused), log why and exit with status 1, so the process does not linger with
    green probes and no work being done, and the orchestrator restarts it. A Ctrl-C that
    reaches here (uvicorn hands SIGINT back once it has shut down) ends it normally."""
    try:
        if event_loop == "uvloop":
            import uvloop

            uvloop.run(main)
        else:
            asyncio.run(main)
    except KeyboardInterrupt:
        return
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


class Probes:
    """The probe server and the stop of a worker process, the same in each.

    While the ``async with`` block runs, ``/health``, ``/v1/health`` and ``/metrics``
    (:func:`notif_core.health.probes_app`) answer on ``host:port``. On SIGTERM or SIGINT (or
    once ``stopping`` is set, when the worker runs inside another program) each ``stop``
    callback runs, in order, then the server is told to exit and ``stopping`` is logged
    with ``stop_fields()``: the work stops first, so a broken stdout cannot hold it up.
    Leaving the block ends the server and waits for it."""

    def __init__(
        self,
        title: str,
        readiness: Readiness,
        host: str,
        port: int,
        *,
        stop: Sequence[Callable[[], None]] = (),
        heartbeat: Heartbeat | None = None,
        stopping: asyncio.Event | None = None,
        stop_fields: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self.server = http_server(probes_app(title, __version__, readiness, heartbeat), host, port)
        self._stop = tuple(stop)
        self._stopping = stopping
        self._stop_fields = stop_fields
        self._serving: asyncio.Task[None] | None = None

    def stop(self) -> None:
        for callback in self._stop:
            callback()
        self.server.should_exit = True
        log.info("stopping", **self._stop_fields())

    async def __aenter__(self) -> Probes:
        on_stop_signals(self.stop, self._stopping)
        self._serving = asyncio.create_task(self.server.serve())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        if self._serving is not None:
            await self._serving
