"""The batcher's linger: entries submitted within it share one call, a full batch goes at
once, and each caller learns its own entry's fate. Pure: the flush is a recording function
(what it sends to is the SQS transport's business, tested on the real endpoint)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from notif_core.sqs.batching import Batcher
from notif_core.sqs.limits import MAX_BATCH


class Recorder:
    def __init__(self, refuse: frozenset[int] = frozenset()) -> None:
        self.calls: list[tuple[str, list[int]]] = []
        self._refuse = refuse

    async def __call__(self, url: str, items: Sequence[int]) -> list[BaseException | None]:
        self.calls.append((url, list(items)))
        return [ValueError(i) if i in self._refuse else None for i in items]


async def test_entries_within_the_linger_share_one_call() -> None:
    flush = Recorder()
    batcher: Batcher[int] = Batcher(flush, linger=0.2)

    async def submit_later(n: int) -> None:
        await asyncio.sleep(0.02 * n)
        await batcher.submit("q", n)

    await asyncio.gather(*(submit_later(n) for n in range(4)))
    assert flush.calls == [("q", [0, 1, 2, 3])]


async def test_without_a_linger_each_turn_of_the_loop_is_its_own_call() -> None:
    flush = Recorder()
    batcher: Batcher[int] = Batcher(flush)

    async def submit_later(n: int) -> None:
        await asyncio.sleep(0.02 * n)
        await batcher.submit("q", n)

    await asyncio.gather(*(submit_later(n) for n in range(3)))
    assert flush.calls == [("q", [0]), ("q", [1]), ("q", [2])]


async def test_a_full_batch_does_not_wait_for_the_linger() -> None:
    flush = Recorder()
    batcher: Batcher[int] = Batcher(flush, linger=30.0)
    await asyncio.wait_for(
        asyncio.gather(*(batcher.submit("q", n) for n in range(MAX_BATCH))), timeout=5
    )
    assert flush.calls == [("q", list(range(MAX_BATCH)))]


async def test_each_queue_gets_its_own_calls_and_each_caller_its_own_fate() -> None:
    flush = Recorder(refuse=frozenset({2}))
    batcher: Batcher[int] = Batcher(flush, linger=0.05)
    results = await asyncio.gather(
        batcher.submit("a", 1),
        batcher.submit("b", 2),
        batcher.submit("a", 3),
        return_exceptions=True,
    )
    assert sorted(flush.calls) == [("a", [1, 3]), ("b", [2])]
    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], ValueError)


async def test_a_failed_call_fails_every_caller_in_it() -> None:
    async def down(url: str, items: Sequence[int]) -> list[BaseException | None]:
        raise ConnectionError("SQS unreachable")

    batcher: Batcher[int] = Batcher(down, linger=0.01)
    with pytest.raises(ConnectionError):
        await asyncio.gather(batcher.submit("q", 1), batcher.submit("q", 2))
