"""Telling an outage of a dependency from a message that cannot be handled.

A handler that fails because PostgreSQL or Valkey does not answer says nothing about its
message. Counting that failure as a receive (SQS's ``ApproximateReceiveCount``) would, under
load, carry healthy messages past the redrive policy's ``maxReceiveCount`` into a DLQ within
a minute, where they sit without a terminal event. So :func:`dependency_down` recognises the
failures that mean "the dependency is unreachable", and :class:`Outages` confirms them with
the service's own cheap probe (``SELECT 1``, ``PING``), remembers which dependency is down,
and probes it back with a growing pause. The consumer runtime stops receiving while anything
is down and puts the failed message back as a fresh copy (see :mod:`notif_core.sqs.consumer`);
readiness reports the outage while it lasts.

The probe is the judge, not the exception alone: a statement that trips a connection error
every time (a poison message) is retried as an ordinary failure once the probe answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Final

import psycopg
import redis.exceptions
import sqlalchemy.exc

from notif_core.logging import get_logger

log = get_logger(__name__)

DATABASE: Final = "database"
REDIS: Final = "redis"
UNKNOWN: Final = "unknown"
"""A connection failure whose origin the exception does not tell (a bare ``OSError``)."""

Probe = Callable[[], Awaitable[bool]]

_PG_OUTAGE_STATES: Final = ("08", "57P01", "57P02", "57P03", "53300")
"""SQLSTATEs of an unreachable server: connection exceptions (class 08), admin or crash
shutdown, "cannot connect now" (starting up), too many connections."""


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or during, each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def dependency_down(exc: BaseException) -> str | None:
    """The dependency whose outage ``exc`` (or an exception it was raised from) shows:
    :data:`DATABASE`, :data:`REDIS`, :data:`UNKNOWN` for a bare connection error, or ``None``
    when the failure is something else (a bug, a constraint, a cancelled statement)."""
    for current in chain(exc):
        found = _classify(current)
        if found is not None:
            return found
    return None


def _classify(exc: BaseException) -> str | None:
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return REDIS  # BusyLoadingError is a ConnectionError
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return DATABASE  # the pool had no connection to give within its timeout
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated:
            return DATABASE
        if exc.orig is not None:
            return _classify(exc.orig)
        return DATABASE if isinstance(exc, sqlalchemy.exc.OperationalError) else None
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate
        if state is None or state.startswith(_PG_OUTAGE_STATES):
            return DATABASE  # no SQLSTATE: the client lost or never had the connection
        return None  # e.g. 57014 query_canceled, 55P03 lock_not_available
    if isinstance(exc, ConnectionError | TimeoutError):
        return UNKNOWN  # refused, reset, aborted; or a connect that timed out
    if isinstance(exc, OSError) and exc.errno is not None:
        return UNKNOWN  # e.g. host unreachable on connect
    return None


class Outages:
    """Which dependencies are down, with a watcher per down dependency that probes it back.

    ``probes`` maps a dependency name to a cheap check that returns ``True`` when it answers.
    """

    def __init__(
        self,
        probes: Mapping[str, Probe] | None = None,
        *,
        probe_timeout: float = 2.0,
        first_wait: float = 0.25,
        max_wait: float = 5.0,
    ) -> None:
        self._probes = dict(probes or {})
        self._probe_timeout = probe_timeout
        self._first_wait = first_wait
        self._max_wait = max_wait
        self._down: dict[str, float] = {}
        self._clear = asyncio.Event()
        self._clear.set()
        self._checking: dict[str, asyncio.Task[bool]] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}

    @property
    def down(self) -> list[str]:
        return sorted(self._down)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """``(ok, {"outages": {...}})`` for a readiness answer."""
        now = time.monotonic()
        return not self._down, {
            "outages": {name: {"down_seconds": round(now - t, 1)} for name, t in self._down.items()}
        }

    async def confirm(self, dependency: str) -> bool:
        """After a failure that points at ``dependency``: is it down? Probes it (all of them
        when the failure did not say which) unless already known down; marks what fails."""
        if dependency in self._down:
            return True
        names = [dependency] if dependency in self._probes else list(self._probes)
        results = await asyncio.gather(*(self._check(name) for name in names))
        return not all(results)

    async def check_all(self) -> bool:
        """Probe every dependency not already known down; ``True`` when any is down."""
        await asyncio.gather(
            *(self._check(name) for name in self._probes if name not in self._down)
        )
        return bool(self._down)

    async def wait_clear(self, beat: Callable[[], None], every: float = 1.0) -> None:
        """Return once nothing is down, calling ``beat`` at least every ``every`` seconds."""
        while not self._clear.is_set():
            beat()
            try:
                await asyncio.wait_for(self._clear.wait(), every)
            except TimeoutError:
                continue

    def close(self) -> None:
        for task in [*self._watchers.values(), *self._checking.values()]:
            task.cancel()

    async def _check(self, name: str) -> bool:
        """One probe of ``name``, shared by concurrent callers; a failure marks it down."""
        if name in self._down:
            return False
        task = self._checking.get(name)
        if task is None:
            task = asyncio.create_task(self._probe(name))
            self._checking[name] = task
            task.add_done_callback(lambda _: self._checking.pop(name, None))
        ok = await asyncio.shield(task)
        if not ok:
            self._mark_down(name)
        return ok

    async def _probe(self, name: str) -> bool:
        try:
            return await asyncio.wait_for(self._probes[name](), self._probe_timeout)
        except Exception:
            return False

    def _mark_down(self, name: str) -> None:
        if name in self._down:
            return
        self._down[name] = time.monotonic()
        self._clear.clear()
        log.warning("dependency_down", dependency=name)
        self._watchers[name] = asyncio.create_task(self._watch(name))

    async def _watch(self, name: str) -> None:
        wait = self._first_wait
        while not await self._probe(name):
            await asyncio.sleep(wait)
            wait = min(self._max_wait, wait * 2)
        since = self._down.pop(name)
        self._watchers.pop(name, None)
        log.info(
            "dependency_recovered", dependency=name, down_seconds=round(time.monotonic() - since, 1)
        )
        if not self._down:
            self._clear.set()
