"""The throttle on a real Valkey: the sender's rate (AIMD) and the throttle's answer.

The recipient pair's spacing has its own tests (``test_pacing.py``)."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis
from tests.conftest import Stack

from dispatcher.throttle import INLINE_WAIT, Admission, Throttle, ThrottleConfig
from notif_core.identity import recipient_key
from notif_core.ids import new_id

SENDER, OTHER = "100000000000001", "100000000000002"


def throttle(redis: Redis, **config: float) -> tuple[Throttle, str]:
    prefix = f"t{new_id().hex[-8:]}"
    return Throttle(redis, ThrottleConfig(**config), prefix=prefix), prefix  # type: ignore[arg-type]


async def test_meta_s_rate_limit_lowers_the_rate_once_a_second(stack: Stack) -> None:
    redis = Redis.from_url(stack.env["REDIS_URL"])
    thr, prefix = throttle(redis, sender_rate=80.0, decrease_factor=0.5)
    before = await thr.current_rate(SENDER)
    first = await thr.throttled(SENDER)
    again = await thr.throttled(SENDER)  # another replica within the same second
    stored = await redis.get(f"{prefix}:aimd:{SENDER}")
    other = await thr.current_rate(OTHER)
    await redis.aclose()
    assert before == 80.0
    assert first == 40.0
    assert 40.0 <= again < 41.0  # not halved twice, climbing back already
    assert isinstance(stored, bytes)
    assert stored.startswith(b"40.0:")
    assert other == 80.0


@pytest.mark.parametrize(
    ("lowered", "ago", "expected"), [(10.0, 5.0, 20.0), (10.0, 100.0, 80.0), (0.2, 0.0, 1.0)]
)
async def test_a_lowered_rate_climbs_back_linearly_between_a_floor_and_the_cap(
    stack: Stack, lowered: float, ago: float, expected: float
) -> None:
    redis = Redis.from_url(stack.env["REDIS_URL"])
    thr, prefix = throttle(redis, sender_rate=80.0, recovery_per_second=2.0)
    await redis.set(f"{prefix}:aimd:{SENDER}", f"{lowered}:{time.time() - ago}")
    rate = await thr.current_rate(SENDER)
    await redis.aclose()
    assert rate == pytest.approx(expected, abs=0.1)


async def test_each_number_has_its_own_cap(stack: Stack) -> None:
    redis = Redis.from_url(stack.env["REDIS_URL"])
    prefix = f"t{new_id().hex[-8:]}"
    thr = Throttle(redis, ThrottleConfig(sender_rates=((OTHER, 20.0),)), prefix=prefix)
    rates = (await thr.current_rate(SENDER), await thr.current_rate(OTHER))
    await redis.aclose()
    assert rates == (80.0, 20.0)


async def test_the_answer_names_the_limit_that_holds_a_message(stack: Stack) -> None:
    redis = Redis.from_url(stack.env["REDIS_URL"])
    thr, _ = throttle(redis, sender_rate=1.0, pair_seconds=2.0, pair_margin_seconds=0.2)
    first = await thr.admit(SENDER, "+447700900001", "n1")
    same_pair = await thr.admit(SENDER, "+447700900001", "n2")
    second_sender_slot = await thr.admit(SENDER, "+447700900002", "n3")
    past_the_cap = await thr.admit(SENDER, "+447700900003", "n4")
    await redis.aclose()
    assert first == Admission(0.0)
    assert same_pair.limit == "pair"
    assert 2.1 < same_pair.wait <= 2.2
    assert second_sender_slot.limit is None
    assert 0.9 < second_sender_slot.wait <= INLINE_WAIT  # waited inline, in its place
    assert past_the_cap == Admission(INLINE_WAIT, "sender")


async def test_a_place_in_line_is_let_go_with_the_send_time(stack: Stack) -> None:
    redis = Redis.from_url(stack.env["REDIS_URL"])
    thr, prefix = throttle(redis, pair_seconds=2.0, pair_margin_seconds=0.2)
    recipient = "+447700900001"
    await thr.pair_slot(SENDER, recipient, "first")
    await thr.pair_slot(SENDER, recipient, "second")  # waits past INLINE_WAIT: its place is kept
    held_before = await redis.exists(f"{prefix}:pair-held:second")
    await thr.pair_sent(SENDER, recipient, release="second")
    held_after = await redis.exists(f"{prefix}:pair-held:second")
    sent_at = await redis.get(f"{prefix}:pair-sent:{SENDER}:{recipient_key(recipient)}")
    await redis.aclose()
    assert (held_before, held_after) == (1, 0)
    assert isinstance(sent_at, bytes)
    assert abs(float(sent_at) - time.time()) < 1.0


async def test_slots_go_at_the_pace_share_of_the_rate_one_at_a_time(stack: Stack) -> None:
    redis = Redis.from_url(stack.env["REDIS_URL"])
    thr, _ = throttle(redis, sender_rate=10.0, pace_share=0.5, burst_seconds=0.0)
    waits = [(await thr.admit(SENDER, f"+44770090{n:04d}", f"n{n}")).wait for n in range(3)]
    await redis.aclose()
    assert waits[0] == 0.0
    # 5/s, no burst: 0.2 s apart (less the time the calls took)
    assert 0.15 < waits[1] <= 0.2
    assert 0.35 < waits[2] <= 0.4


def test_sends_in_one_process_start_at_most_at_the_cap_s_pace() -> None:
    # spacing() reads no Redis; the client is never connected
    thr = Throttle(Redis(), ThrottleConfig(sender_rate=100.0))
    late = [thr.spacing(SENDER) for _ in range(3)]  # three slots passed at once
    other = thr.spacing(OTHER)
    assert late[0] == 0.0
    assert 0.009 < late[1] <= 0.01
    assert 0.019 < late[2] <= 0.02
    assert other == 0.0  # each number its own pace
    time.sleep(0.03)
    assert thr.spacing(SENDER) == 0.0  # on time again: no wait
