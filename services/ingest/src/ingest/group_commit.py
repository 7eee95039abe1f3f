"""Group commit: the writes of many concurrent requests in one transaction.

Every request that arrives while transactions are being written waits for the next one
(``IN_FLIGHT`` of them at most), so under load one commit (one WAL flush) and one round trip
serve dozens of requests, and an idle service adds no delay at all: a lone request is
committed at once. Each request still gets its own answer, and a group that fails for one
request's data (not for an outage) is committed again request by request, so the others
never answer for it.

Two writers use it: accepted notifications (``notifications/group_commit.py``) and Meta's
webhooks (``webhooks/webhook_inbox.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from ingest.metrics import GROUP_SECONDS, GROUP_SIZE
from notif_core.logging import get_logger
from notif_core.outages import dependency_down

log = get_logger(__name__)
MAX_GROUP = 128
IN_FLIGHT = 2
"""Transactions writing at once. While one waits for its round trips and its WAL flush
(slow when the event loop is busy with requests), the next group is already on its way."""

Item = TypeVar("Item")
Result = TypeVar("Result")
Write = Callable[[Sequence[Item]], Awaitable[Sequence[Result | Exception]]]
"""Writes a group in one transaction; returns each item's outcome in order (an exception
that is one item's alone, such as an Idempotency-Key conflict), or raises for the group."""
Writer = Literal["notifications", "webhooks"]
"""The label of the group-commit metrics."""


@dataclass
class _Submission(Generic[Item, Result]):
    item: Item
    done: asyncio.Future[Result] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit(Generic[Item, Result]):
    """``await group.submit(item)`` returns once ``item`` is committed, with its outcome.

    The gathering task starts with the first submission; :meth:`stop` ends it after the
    groups being written have answered."""

    def __init__(self, write: Write[Item, Result], writer: Writer) -> None:
        self._write = write
        self._writer = writer
        self._queue: asyncio.Queue[_Submission[Item, Result]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._writing: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        submission: _Submission[Item, Result] = _Submission(item)
        self._queue.put_nowait(submission)
        return await submission.done

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await asyncio.gather(*self._writing, return_exceptions=True)  # answer those written

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

    async def _commit(self, group: list[_Submission[Item, Result]]) -> None:
        started = time.perf_counter()
        GROUP_SIZE.labels(self._writer).observe(len(group))
        try:
            outcomes = await self._write([sub.item for sub in group])
        except Exception as exc:
            if len(group) > 1 and dependency_down(exc) is None:
                # Something in one request's data, not an outage: commit each request on
                # its own, so only the one at fault learns of it.
                log.warning(
                    "group_commit_split",
                    writer=self._writer,
                    size=len(group),
                    error=type(exc).__name__,
                )
                for sub in group:
                    await self._commit([sub])
                return
            for sub in group:  # an outage, or a lone request: it learns why
                if not sub.done.done():
                    sub.done.set_exception(exc)
            return
        GROUP_SECONDS.labels(self._writer).observe(time.perf_counter() - started)
        for sub, outcome in zip(group, outcomes, strict=True):
            if sub.done.done():
                continue
            if isinstance(outcome, Exception):
                sub.done.set_exception(outcome)
            else:
                sub.done.set_result(outcome)
