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
import contextvars
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from sqlalchemy.exc import TimeoutError as PoolTimeout

from ingest.metrics import GROUP_SECONDS, GROUP_SIZE
from notif_core.logging import get_logger
from notif_core.outages import dependency_down

log = get_logger(__name__)
MAX_GROUP = 128
MAX_GROUP_BYTES = 1024 * 1024
"""A group holds at most this many bytes of items (by the writer's ``size``), so a burst of
large webhook bodies is written a few at a time, never as one huge statement; an item
larger than this goes alone."""
IN_FLIGHT = 2
"""Transactions writing at once. While one waits for its round trips and its WAL flush
(slow when the event loop is busy with requests), the next group is already on its way."""
QUEUE_WAIT_SECONDS = 2.0
"""How long a submission may wait for a place in a group, as long as the database pool's
own wait: while PostgreSQL hangs, both slots stay busy, and the requests behind them are
answered 503 (``PoolTimeout``) instead of waiting for as long as the hang lasts. One
already taken into a group waits for its outcome, so a 503 never answers a stored item."""
STOP_SECONDS = 10.0
"""How long :meth:`GroupCommit.stop` waits for the groups being written."""

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
    size: int
    done: asyncio.Future[Result] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    taken: bool = False
    """Taken into a group: its outcome is the write's."""


def _unavailable() -> PoolTimeout:
    return PoolTimeout("the database took no write within the group commit's wait")


class GroupCommit(Generic[Item, Result]):
    """``await group.submit(item)`` returns once ``item`` is committed, with its outcome.

    The gathering task starts with the first submission, in a context of its own (not the
    first request's: its log fields and trace); :meth:`stop` answers what still waits and
    ends it after the groups being written have answered."""

    def __init__(
        self, write: Write[Item, Result], writer: Writer, size: Callable[[Item], int] | None = None
    ) -> None:
        self._write = write
        self._writer = writer
        self._size = size
        self._queue: deque[_Submission[Item, Result]] = deque()
        self._waiting = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._writing: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        """Raises ``PoolTimeout`` (answered 503) when no group took it within
        :data:`QUEUE_WAIT_SECONDS`, and whatever the write raised for it."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), context=contextvars.Context())
        submission: _Submission[Item, Result] = _Submission(
            item, self._size(item) if self._size else 0
        )
        self._queue.append(submission)
        self._waiting.set()
        try:
            return await asyncio.wait_for(asyncio.shield(submission.done), QUEUE_WAIT_SECONDS)
        except TimeoutError:
            if submission.taken:
                return await submission.done
            self._queue.remove(submission)
            raise _unavailable() from None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        while self._queue:  # never to be written: answered as an outage, retried by callers
            waiting = self._queue.popleft()
            if not waiting.done.done():
                waiting.done.set_exception(_unavailable())
        if self._writing:  # answer those being written, unless the database hangs
            await asyncio.wait(self._writing, timeout=STOP_SECONDS)

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._waiting.clear()
                await self._waiting.wait()
                continue
            await self._slots.acquire()  # requests keep gathering while every slot is busy
            group: list[_Submission[Item, Result]] = []
            size = 0
            while self._queue and len(group) < MAX_GROUP:
                nxt = self._queue[0]
                if group and size + nxt.size > MAX_GROUP_BYTES:
                    break
                self._queue.popleft()
                nxt.taken = True
                group.append(nxt)
                size += nxt.size
            if not group:  # every one gave up waiting meanwhile
                self._slots.release()
                continue
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
