"""Meta's messaging limit kept on a real Valkey: unique users per moving window, marketing
held first, a user already reached free, places freed as the window moves; and the
throttle's cap following the throughput Meta reports."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from tests.conftest import Stack

from dispatcher.account_health import AccountHealth, AccountStanding, NumberHealth
from dispatcher.messaging_limit import MessagingLimits
from dispatcher.throttle import Throttle, ThrottleConfig
from notif_core.ids import new_id

SENDER, NAMED, SILENT = "100000000000001", "100000000000002", "100000000000003"


def limits(stack: Stack, window: float, share: float = 0.6) -> MessagingLimits:
    redis = Redis.from_url(stack.env["REDIS_URL"])
    return MessagingLimits(redis, window, share, prefix=f"t{new_id().hex[-8:]}")


async def test_marketing_stops_at_its_share_and_utility_fills_the_rest(stack: Stack) -> None:
    kept = limits(stack, window=60, share=0.6)
    marketing = [await kept.take("p", f"user-{i}", 5, marketing=True) for i in range(4)]
    assert [p.taken for p in marketing] == [True, True, True, False]  # 60 % of 5
    assert marketing[-1].wait >= 1
    utility = [await kept.take("p", f"user-u{i}", 5, marketing=False) for i in range(3)]
    assert [p.taken for p in utility] == [True, True, False]
    assert utility[1].used == 5


async def test_a_user_already_reached_costs_no_place_and_portfolios_are_apart(
    stack: Stack,
) -> None:
    kept = limits(stack, window=60)
    assert (await kept.take("p", "alice", 1, marketing=False)).taken
    again = await kept.take("p", "alice", 1, marketing=True)
    assert again.taken
    assert again.used == 1
    assert not (await kept.take("p", "bob", 1, marketing=False)).taken
    assert (await kept.take("other", "bob", 1, marketing=False)).taken


async def test_places_free_as_the_window_moves(stack: Stack) -> None:
    kept = limits(stack, window=1.5)
    assert (await kept.take("p", "alice", 1, marketing=False)).taken
    held = await kept.take("p", "bob", 1, marketing=False)
    assert not held.taken
    assert 1 <= held.wait <= 1.5  # until alice's place frees (at least a second)
    await asyncio.sleep(1.6)
    assert (await kept.take("p", "bob", 1, marketing=False)).taken


def health(throughput: str | None, limit: str | None) -> AccountHealth:
    found = AccountHealth(engine=None, portfolio_of=lambda waba: f"portfolio-of-{waba}")  # type: ignore[arg-type]
    found.set(
        {
            SENDER: NumberHealth("200000000000001", "GREEN", limit, throughput),
            NAMED: NumberHealth("200000000000001", "RED", limit, throughput),
        },
        {"200000000000001": AccountStanding(None, ())},
    )
    return found


@pytest.mark.parametrize(
    ("level", "reported"), [("STANDARD", 80.0), ("HIGH", 1000.0), (None, None), ("NEW", None)]
)
def test_throughput_levels_in_messages_per_second(
    level: str | None, reported: float | None
) -> None:
    assert health(level, None).throughput(SENDER) == reported


def test_the_cap_follows_meta_unless_sender_rates_names_the_number() -> None:
    known = health("HIGH", None)
    config = ThrottleConfig(sender_rate=80.0, sender_rates=((NAMED, 20.0),))
    throttle = Throttle(Redis(), config, reported=known.throughput)
    assert throttle.cap(SENDER) == 1000.0  # Meta's report
    assert throttle.cap(NAMED) == 20.0  # the operator's entry wins
    assert throttle.cap(SILENT) == 80.0  # Meta said nothing: SENDER_RATE_PER_SECOND
    known.set({SENDER: NumberHealth("200000000000001", "YELLOW", None, "STANDARD")}, {})
    assert throttle.cap(SENDER) == 80.0  # a downgrade lowers it at the next read


@pytest.mark.parametrize(
    ("tier", "limit"),
    [("TIER_250", 250), ("TIER_2K", 2000), ("TIER_100K", 100_000), ("TIER_UNLIMITED", None)],
)
def test_messaging_limit_tiers_per_portfolio(tier: str, limit: int | None) -> None:
    counted = health(None, tier).messaging_limit(SENDER)
    assert counted == (None if limit is None else ("portfolio-of-200000000000001", limit))
    no_tier_yet = health(None, None).messaging_limit(SENDER)
    assert no_tier_yet == ("portfolio-of-200000000000001", None)  # counted before the first
    assert health(None, tier).messaging_limit(SILENT) is None  # Meta said nothing of it


async def test_users_reached_while_unlimited_count_once_a_tier_applies(stack: Stack) -> None:
    kept = limits(stack, window=60)
    assert (await kept.take("p", "alice", None, marketing=True)).taken  # unlimited: counted
    assert (await kept.take("p", "bob", None, marketing=False)).used == 2
    assert not (await kept.take("p", "carol", 2, marketing=False)).taken  # TIER of 2: full
    assert (await kept.take("p", "alice", 2, marketing=False)).taken  # already reached
