"""Shared fixtures: one embedded stack (PostgreSQL, local SQS, Valkey) for the whole run,
one per pytest-xdist worker (each in its own directory, on ports of its own).

Everything is real and on loopback: nothing here is mocked. The stack ignores any
DATABASE_URL/SQS_ENDPOINT_URL/REDIS_URL of the machine, so results do not depend on it.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notif_core.db import libpq_url, make_engine
from notif_core.ids import new_id
from notif_core.settings import CoreSettings
from notif_local.devtenant import ensure_dev_key
from notif_local.stack import LocalStack, Ports, create_queues, migrate_all
from tests.e2e.services import Services


@dataclass
class HeldPorts:
    """Loopback ports kept bound, not listening, until their server is about to start. With
    several workers, and the benchmark's, chaos run's and outage tests' own stacks, picking
    free ports at once, a port picked for a service minutes before the service starts would
    otherwise be free for another to take meanwhile."""

    sockets: dict[int, socket.socket] = field(default_factory=dict)

    def hold(self, port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # no SO_REUSEADDR: exclusive
        sock.bind(("127.0.0.1", port))
        self.sockets[port] = sock

    def release(self, port: int) -> None:
        sock = self.sockets.pop(port, None)
        if sock is not None:
            sock.close()

    def release_all(self) -> None:
        for port in list(self.sockets):
            self.release(port)


@dataclass
class Stack:
    local: LocalStack
    env: dict[str, str]
    root: Path
    held: HeldPorts = field(default_factory=HeldPorts)
    """The services' ports, until the ``services`` fixture starts them."""

    @property
    def ports(self) -> Ports:
        return self.local.ports

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    def new_database(self, label: str, *, migrated: bool = False) -> str:
        """A database of its own on the stack's server, empty or with every service's
        schema: for tests that must not share state with the running services. Returns
        its URL."""
        import psycopg

        name = f"{label}_{new_id().hex[-12:]}"
        template = f' TEMPLATE "{MIGRATED}"' if migrated else ""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{template}')
        return self.database_url.rsplit("/", 1)[0] + "/" + name

    @property
    def admin_dsn(self) -> str:
        """The server's ``postgres`` database: creating a database from a template needs
        no one connected to the template, this connection included."""
        return libpq_url(self.database_url.rsplit("/", 1)[0] + "/postgres")

    def settings(self, **overrides: str) -> CoreSettings:
        return CoreSettings(**overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("stack")
    ports = Ports.all_free()
    held = HeldPorts()
    for port in ports.services().values():
        held.hold(port)
    local = LocalStack(root, ports=ports, outer_env={})
    try:
        env = local.start()
    except BaseException:
        held.release_all()
        raise
    # Callback receivers in tests are http servers on loopback (services and in-process apps
    # alike); tests of the refusal build their settings with it off (tests/*/test_*egress*).
    env["CALLBACK_ALLOW_PRIVATE"] = "true"
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "QUEUE_PREFIX"):
            mp.delenv(name, raising=False)
        try:
            session = Stack(local=local, env=env, root=root, held=held)
            prepare_database(session)
            create_queues(CoreSettings(), max_receive_count=11)  # above MAX_ATTEMPTS
            yield session
        finally:
            held.release_all()
            local.stop()


MIGRATED = "notif_migrated"
"""A template database, copied from the session's database right after its migrations: a
test's database ``new_database(migrated=True)`` is a copy of it, which takes a fraction of a
second where running the three services' migration commands again takes several."""


def prepare_database(stack: Stack) -> None:
    """Migrate the session's database and keep a copy of it as the template ``MIGRATED``."""
    import psycopg

    migrate_all(stack.database_url)
    session_db = stack.database_url.rsplit("/", 1)[1]
    with psycopg.connect(stack.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{MIGRATED}" TEMPLATE "{session_db}"')


@pytest.fixture(scope="session")
async def engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(stack.database_url, pool_size=4, application_name="tests", pre_ping=True)
    yield eng
    await eng.dispose()


def pytest_report_header(config: pytest.Config) -> str:
    if config.getoption("no_servers"):
        return "no servers: the tests that need the embedded stack are deselected"
    return f"embedded stack: PostgreSQL, ministack SQS, Valkey (pid {os.getpid()})"


SANDBOX_SECRET = "e2e-app-secret"
START_TIMEOUT = 90
"""Seconds a service may take to answer its health check at start: a cold start costs a few
seconds of CPU, and with two workers starting stacks and services at once on two cores, or
another run beside them, 30 s was seen to run out."""


@pytest.fixture(scope="session")
def services(stack: Stack) -> Iterator[Services]:
    ports = stack.ports.services()
    env = {
        **stack.env,
        "LOG_LEVEL": "INFO",
        "WHATSAPP_APP_SECRET": SANDBOX_SECRET,
        "SANDBOX_APP_SECRET": SANDBOX_SECRET,
        "SANDBOX_TIME_SCALE": "0.5",
        "RETRY_BASE_SECONDS": "0.5",
        "SQS_WAIT_SECONDS": "2",
        "MAX_ATTEMPTS": "10",
        "API_RATE_LIMIT_PER_SECOND": "1000",
        "BREAKER_PROBE_SECONDS": "2",
        "CALLBACK_RETRY_BASE_SECONDS": "0.2",
        "CALLBACK_RETRY_CAP_SECONDS": "1",
        "QUEUE_METRICS_INTERVAL": "2",
        "DRAIN_SECONDS": "10",
        "TEMPLATE_HOLD_SECONDS": "1",
        # Meta's moving 24 h, shortened so held sends are seen going out
        # (tests/e2e/test_account_health.py).
        "MESSAGING_LIMIT_WINDOW_SECONDS": "20",
        # Tenant walls as in production: a tenant sends only from numbers assigned to it
        # (the dev tenant of `api_key` holds the sandbox's sender, devtenant.py); a tenant
        # without numbers gets 422 no_sender_assigned.
        "SINGLE_TENANT": "false",
    }
    log_dir = stack.root / "service-logs"
    log_dir.mkdir(exist_ok=True)
    svc = Services(env=env, ports=ports, log_dir=log_dir)
    try:
        for name in ("sandbox", "ledger", "callbacks", "dispatcher", "relay", "ingest"):
            stack.held.release(ports[name])
            svc.start(name, timeout=START_TIMEOUT)
        yield svc
    finally:
        svc.stop_all()


_numbers = itertools.count(1)


def recipient() -> str:
    """A fresh recipient per message, so Meta's pair rate limit (1 per 6 s) stays out of the
    way where a test is not about it."""
    return f"+1415{next(_numbers):07d}"


@pytest.fixture(scope="session")
def api_key(stack: Stack) -> str:
    return ensure_dev_key(stack.database_url, stack.root / "dev-api-key")


# --- the fast tier: tests that start no server and no process --------------------------------

ROOT = Path(__file__).resolve().parents[1]

SERVER_FIXTURES = frozenset(
    {"stack", "services", "outage_stack", "receiver", "sandbox", "sleeper", "cluster"}
)
"""Fixtures that start a server or a process: the embedded stack (every fixture built on it,
``engine`` and ``api_key`` too, names it among its own), the service processes, a stack of a
module's own, the sandbox and webhook receivers on loopback ports, a stand-in process
(notif_local) and a stand-in Kubernetes API (notifctl k8s)."""

STARTS_PROGRAMS = re.compile(
    r"\b(subprocess|create_subprocess_\w+|TCPSite|uvicorn|HTTPServer|start_server|run_service"
    r"|RunningSandbox|Probes)\b"
)
"""What a test module names when it runs a program or a server of its own, without such a
fixture (helm, promtool, uv, a service's command, an in-process server): all its tests go
with the stack tier, those that do not too, which errs on the safe side."""


RUNS_PROGRAMS_INSIDE = frozenset({"tests/notif_core/test_sentry.py"})
"""Modules whose programs start inside a library: ``sentry_sdk.init()`` with no release
asks ``git`` for one."""


@functools.cache
def runs_programs(path: Path) -> bool:
    if path.relative_to(ROOT).as_posix() in RUNS_PROGRAMS_INSIDE:
        return True
    return STARTS_PROGRAMS.search(path.read_text(encoding="utf-8")) is not None


def starts_servers(item: pytest.Item) -> bool:
    return (
        item.get_closest_marker("e2e") is not None
        or not SERVER_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))
        or runs_programs(item.path)
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-servers",
        action="store_true",
        help="fail a test that listens on a socket or starts a process (`make unit`)",
    )


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if starts_servers(item):
            item.add_marker(pytest.mark.stack)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=heaviest_files_first(items).__getitem__)


def heaviest_files_first(items: list[pytest.Item]) -> dict[pytest.Item, tuple[int, int]]:
    """Each item's place when the files go to workers: files with an ``e2e`` test first,
    then the other ``stack`` files, then the pure ones, each file's tests together and in
    their order. The long files start early and short ones fill the end, so no worker is
    left alone with a long file while the other has finished."""
    rank: dict[Path, int] = {}
    for item in items:
        weight = (
            0 if item.get_closest_marker("e2e") else 1 if item.get_closest_marker("stack") else 2
        )
        rank[item.path] = min(rank.get(item.path, 2), weight)
    return {item: (rank[item.path], n) for n, item in enumerate(items)}


STARTS_A_PROCESS = frozenset(
    {"subprocess.Popen", "os.system", "os.posix_spawn", "os.fork", "os.exec"}
)
"""Audit events of a process being started."""


def _refuse(what: str) -> None:
    raise RuntimeError(
        f"{what:.300}: a test of the fast tier started a server or a process. Give it a "
        "fixture of SERVER_FIXTURES or the e2e marker, or name what starts it in its module "
        "(STARTS_PROGRAMS, tests/conftest.py)"
    )


def _refuse_processes(event: str, args: tuple[Any, ...]) -> None:
    if event in STARTS_A_PROCESS:
        _refuse(f"{event} {args!r}")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under ``--no-servers`` (collection has imported every module by now), a test that
    listens on a socket (every server: asyncio, aiohttp, uvicorn, socketserver) or starts a
    process fails with a message that says where it belongs. For this run's remainder:
    an audit hook cannot be removed, and the run is the fast tier's alone."""
    if not session.config.getoption("no_servers"):
        return
    sys.addaudithook(_refuse_processes)

    def listen(sock: Any, backlog: int = 0) -> None:
        _refuse(f"listen on {sock.getsockname()}")

    socket.socket.listen = listen  # type: ignore[method-assign]
