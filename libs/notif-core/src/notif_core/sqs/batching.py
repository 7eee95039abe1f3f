"""Turning many concurrent single calls into SQS batch calls (ten entries each).

Handlers publish one event and delete one message at a time; each SQS call costs a
request signature and a round trip. A :class:`Batcher` collects what concurrent callers
submit during one turn of the event loop, sends it in batches of ten, and resolves every
caller with its own entry's outcome, so "delete only after the event is published" still
holds per message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from notif_core.sqs.limits import MAX_BATCH

T = TypeVar("T")
Flush = Callable[[str, Sequence[T]], Awaitable[Sequence[BaseException | None]]]


class Batcher(Generic[T]):
    """``await batcher.submit(queue_url, item)`` returns once the item's batch succeeded."""

    def __init__(self, flush: Flush[T]) -> None:
        self._flush = flush
        self._pending: dict[str, list[tuple[T, asyncio.Future[None]]]] = {}
        self._scheduled = False
        self._sending: set[asyncio.Task[None]] = set()

    async def submit(self, queue_url: str, item: T) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(queue_url, []).append((item, future))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start_flush)
        await future

    def _start_flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        for url, entries in pending.items():
            for start in range(0, len(entries), MAX_BATCH):
                task = asyncio.ensure_future(self._send(url, entries[start : start + MAX_BATCH]))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

    async def _send(self, url: str, entries: list[tuple[T, asyncio.Future[None]]]) -> None:
        try:
            outcomes = await self._flush(url, [item for item, _ in entries])
        except BaseException as exc:
            for _, future in entries:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), outcome in zip(entries, outcomes, strict=True):
            if future.done():
                continue
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)
