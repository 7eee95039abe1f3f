"""Group commit: the notifications of many concurrent requests in one transaction.

Every request that arrives while transactions are being written waits for the next one
(``IN_FLIGHT`` of them at most), so under load one commit (one WAL flush) and two COPYs
serve dozens of requests, and an idle service adds no delay at all: a lone request is
committed at once. Each request
still gets its own answer; an Idempotency-Key conflict affects only its own request, and a
group that fails for one request's data is committed again request by request, so the others
never answer for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.account.keys import Tenant
from ingest.api.errors import ApiError
from ingest.metrics import GROUP_SECONDS, GROUP_SIZE
from ingest.notifications import accept, idempotency
from notif_core.logging import get_logger
from notif_core.outages import dependency_down

log = get_logger(__name__)
MAX_GROUP = 128
IN_FLIGHT = 2
"""Transactions writing at once. While one waits for its round trips and its WAL flush
(slow when the event loop is busy with requests), the next group is already on its way."""


@dataclass(frozen=True)
class IdempotencySpec:
    key: str
    digest: str
    answer: dict[str, Any]
    status_code: int = 202


@dataclass
class _Submission:
    tenant: Tenant
    prepared: list[accept.Prepared]
    idem: IdempotencySpec | None
    done: asyncio.Future[idempotency.Stored | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommitter:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # A group without Idempotency-Keys is one statement: no BEGIN and COMMIT round trips.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._queue: asyncio.Queue[_Submission] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._writing: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.gather(*self._writing, return_exceptions=True)  # answer those written

    async def submit(
        self, tenant: Tenant, prepared: list[accept.Prepared], idem: IdempotencySpec | None
    ) -> idempotency.Stored | None:
        """Durably accept; returns the stored answer when the Idempotency-Key was used."""
        submission = _Submission(tenant, prepared, idem)
        self._queue.put_nowait(submission)
        return await submission.done

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            await self._slots.acquire()  # requests keep gathering while every slot is busy
            group = [first]
            while len(group) < MAX_GROUP and not self._queue.empty():
                group.append(self._queue.get_nowait())
            task = asyncio.create_task(self._commit(group))
            self._writing.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._writing.discard(task)
        self._slots.release()

    async def _commit(self, group: list[_Submission]) -> None:
        outcomes: dict[int, idempotency.Stored | Exception | None] = {}
        started = time.perf_counter()
        GROUP_SIZE.observe(len(group))
        try:
            if all(sub.idem is None for sub in group):
                async with self._autocommit.connect() as conn:
                    await accept.write(conn, [(s.tenant, p) for s in group for p in s.prepared])
            else:
                await self._write_with_keys(group, outcomes)
        except Exception as exc:
            if len(group) > 1 and dependency_down(exc) is None:
                # Something in one request's data, not an outage: commit each request on
                # its own, so only the one at fault learns of it.
                log.warning("group_commit_split", size=len(group), error=type(exc).__name__)
                for sub in group:
                    await self._commit([sub])
                return
            for sub in group:  # an outage, or a lone request: it learns why
                if not sub.done.done():
                    sub.done.set_exception(exc)
            return
        GROUP_SECONDS.observe(time.perf_counter() - started)
        for index, sub in enumerate(group):
            outcome = outcomes.get(index)
            if sub.done.done():
                continue
            if isinstance(outcome, Exception):
                sub.done.set_exception(outcome)
            else:
                sub.done.set_result(outcome)

    async def _write_with_keys(
        self, group: list[_Submission], outcomes: dict[int, idempotency.Stored | Exception | None]
    ) -> None:
        """One transaction: reserve each Idempotency-Key, then write the requests that won
        theirs (or had none); a replay or a conflict is that request's outcome alone."""
        async with self._engine.begin() as conn:
            live: list[_Submission] = []
            for index, sub in enumerate(group):
                if sub.idem is None:
                    live.append(sub)
                    continue
                try:
                    stored = await idempotency.reserve(
                        conn,
                        sub.tenant.id,
                        sub.idem.key,
                        sub.idem.digest,
                        sub.idem.status_code,
                        sub.idem.answer,
                    )
                except ApiError as exc:
                    outcomes[index] = exc
                    continue
                if stored is not None:
                    outcomes[index] = stored
                else:
                    live.append(sub)
            await accept.write(conn, [(sub.tenant, p) for sub in live for p in sub.prepared])
