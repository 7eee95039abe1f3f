"""The recipient pair limit on a real Valkey: spacing follows when sends really went out."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from tests.conftest import Stack

from dispatcher.throttle import Throttle as Pacer
from dispatcher.throttle import ThrottleConfig as PacingConfig
from notif_core.ids import new_id

SENDER, RECIPIENT = "100000000000001", "+447700900123"


def pacer(redis: Redis, burst: int = 1) -> Pacer:
    config = PacingConfig(pair_seconds=2.0, pair_margin_seconds=0.2, pair_burst=burst)
    return Pacer(redis, config, prefix=f"t{new_id().hex[-8:]}")


async def test_a_late_send_pushes_the_next_one_back(stack: Stack) -> None:
    # Bounds come from the clock around each call, so a busy machine cannot fail them.
    interval = 2.2  # pair_seconds + pair_margin_seconds
    clock = asyncio.get_running_loop().time
    redis = Redis.from_url(stack.env["REDIS_URL"])
    pace = pacer(redis)
    before_first = clock()
    first = await pace.pair_slot(SENDER, RECIPIENT, "first")
    after_first = clock()
    second = await pace.pair_slot(SENDER, RECIPIENT, "second")
    assert first == 0.0
    # its place in line: one interval after the first
    assert interval - (clock() - before_first) - 0.01 <= second <= interval
    await asyncio.sleep(0.5)  # the first send leaves late, then Meta answers
    before_sent = clock()
    await pace.pair_sent(SENDER, RECIPIENT)
    again = await pace.pair_slot(SENDER, RECIPIENT, "second")
    now = clock()
    await redis.aclose()
    # The reservation alone would now say at most this: too close to when the first one arrived.
    reservation_alone = interval - (now - after_first)
    assert again >= interval - (now - before_sent) - 0.01, again
    assert again > reservation_alone + 0.4, (again, reservation_alone)


async def test_with_a_burst_the_reservation_alone_decides(stack: Stack) -> None:
    redis = Redis.from_url(stack.env["REDIS_URL"])
    pace = pacer(redis, burst=3)
    clock = asyncio.get_running_loop().time
    start = clock()
    waits = []
    for n in range(3):
        waits.append(await pace.pair_slot(SENDER, RECIPIENT, f"n{n}"))
        await pace.pair_sent(SENDER, RECIPIENT)
    fourth = await pace.pair_slot(SENDER, RECIPIENT, "n3")
    await redis.aclose()
    assert waits == [0.0, 0.0, 0.0]
    assert 2.2 - (clock() - start) - 0.01 <= fourth <= 2.2
