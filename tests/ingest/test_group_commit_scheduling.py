"""How the group commit schedules writes, with a write function that stands for the
database (the two slots hang while PostgreSQL does): requests behind a hung database are
answered as an outage within the wait, never a request already being written; a stop
answers everyone; groups stay under the byte cap; and the writes never run in the first
request's context."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ingest import group_commit
from ingest.group_commit import GroupCommit

REQUEST = contextvars.ContextVar("request", default="none")


class HungDatabase:
    """A write that waits until released; it records the groups it was given."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.groups: list[list[int]] = []

    async def write(self, items: Sequence[int]) -> list[int]:
        self.groups.append(list(items))
        await self.release.wait()
        return list(items)


@pytest.fixture(autouse=True)
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(group_commit, "QUEUE_WAIT_SECONDS", 0.2)
    monkeypatch.setattr(group_commit, "STOP_SECONDS", 0.2)


async def fill_both_slots(group: GroupCommit[int, int]) -> list[asyncio.Task[int]]:
    """Two groups of one, one per slot, both hung in the database."""
    written = []
    for n in (1, 2):
        written.append(asyncio.create_task(group.submit(n)))
        await asyncio.sleep(0.02)
    return written


async def test_behind_a_hung_database_requests_get_an_outage_not_a_wait() -> None:
    db = HungDatabase()
    group: GroupCommit[int, int] = GroupCommit(db.write, "webhooks")
    written = await fill_both_slots(group)
    queued = asyncio.create_task(group.submit(3))
    with pytest.raises(PoolTimeout):
        await queued
    await asyncio.sleep(0.3)
    assert not any(task.done() for task in written)  # being written: they wait for it
    db.release.set()
    assert await asyncio.gather(*written) == [1, 2]
    assert [3] not in db.groups  # the one answered 503 was never written
    await group.stop()


async def test_a_stop_answers_every_request_even_while_the_database_hangs() -> None:
    db = HungDatabase()
    group: GroupCommit[int, int] = GroupCommit(db.write, "webhooks")
    written = await fill_both_slots(group)
    waiting = [asyncio.create_task(group.submit(n)) for n in (3, 4, 5)]
    await asyncio.sleep(0.01)
    await asyncio.wait_for(group.stop(), 2)  # bounded by STOP_SECONDS
    outcomes = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 1)
    assert all(isinstance(o, PoolTimeout) for o in outcomes), outcomes
    assert not any(task.done() for task in written)  # their outcome is the database's
    db.release.set()
    assert await asyncio.gather(*written) == [1, 2]


async def test_a_group_holds_at_most_the_byte_cap_and_a_large_item_goes_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(group_commit, "MAX_GROUP_BYTES", 100)
    db = HungDatabase()
    db.release.set()
    group: GroupCommit[int, int] = GroupCommit(db.write, "webhooks", size=lambda n: n)
    sizes = [40, 40, 40, 250, 30, 30, 30, 30]
    assert await asyncio.gather(*(group.submit(n) for n in sizes)) == sizes
    assert sorted(n for g in db.groups for n in g) == sorted(sizes)
    assert all(sum(g) <= 100 or len(g) == 1 for g in db.groups), db.groups
    assert [250] in db.groups
    await group.stop()


async def test_writes_run_in_a_context_of_their_own() -> None:
    seen: list[str] = []

    async def write(items: Sequence[int]) -> list[int]:
        seen.append(REQUEST.get())
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(write, "webhooks")

    async def request(name: str, n: int) -> int:
        REQUEST.set(name)
        return await group.submit(n)

    assert await asyncio.create_task(request("tenant-a", 1)) == 1
    assert await asyncio.create_task(request("tenant-b", 2)) == 2
    assert seen == ["none", "none"]
    await group.stop()
