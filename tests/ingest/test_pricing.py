"""Cost estimates: a rate card is read as its operator wrote it (or refused with a reason),
and usage is priced per category and country before it is summed into any grouping."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ingest.account import pricing, usage
from ingest.api.errors import ApiError
from ingest.api.schemas import UsageItem

CARD = """# a small card
country,category,price,currency
*,marketing,0.05,EUR
*,utility,0.01,EUR
GB,marketing,0.07,EUR
"""


def card(tmp_path: Path, text: str = CARD) -> pricing.RateCard:
    path = tmp_path / "card.csv"
    path.write_text(text)
    return pricing.load(path)


def test_a_country_price_wins_over_the_default_and_unknowns_have_none(tmp_path: Path) -> None:
    loaded = card(tmp_path)
    assert (loaded.name, loaded.currency) == ("card.csv", "EUR")
    assert loaded.price("GB", "marketing") == Decimal("0.07")
    assert loaded.price("gb", "marketing") == Decimal("0.07")
    assert loaded.price("FR", "marketing") == Decimal("0.05")
    assert loaded.price("GB", "authentication") is None
    assert loaded.price("GB", None) is None


@pytest.mark.parametrize(
    "text",
    [
        "country,category,price,currency\n*,utility,0.01,EUR\n*,marketing,0.05,USD\n",
        "country,category,price,currency\n*,utility,cheap,EUR\n",
        "country,category,price,currency\n*,utility,-1,EUR\n",
        "country,category,price,currency\n*,utility,NaN,EUR\n",
        "country,category,price\n*,utility,0.01\n",
        "",
    ],
    ids=["two currencies", "not a number", "negative", "nan", "no currency", "empty"],
)
def test_an_unusable_card_is_refused_with_a_reason(tmp_path: Path, text: str) -> None:
    with pytest.raises(ApiError) as refused:
        card(tmp_path, text)
    assert (refused.value.status_code, refused.value.code) == (503, "rate_card_unavailable")
    assert "card.csv" in refused.value.message


def test_the_shipped_example_card_loads() -> None:
    example = pricing.load(None)
    assert example.name == "rate_card.example.csv"
    assert example.price("ZZ", "utility") is not None  # every category has a default


def row(category: str, country: str, day: str, messages: int, billable: int) -> dict[str, Any]:
    return {
        "category": category,
        "country": country,
        "day": day,
        "messages": messages,
        "billable_messages": billable,
    }


def test_usage_is_priced_per_category_and_country_then_summed(tmp_path: Path) -> None:
    rows = [  # ordered by day, as the query orders them
        row("marketing", "FR", "2026-11-01", 10, 10),
        row("marketing", "GB", "2026-11-01", 3, 3),
        row("service", "GB", "2026-11-01", 5, 0),
        row("authentication", "GB", "2026-11-02", 4, 4),
        row("utility", "US", "2026-11-02", 100, 100),
    ]
    items = usage._fold(rows, ["day"], card(tmp_path))
    assert [(str(i.day), i.messages, i.billable_messages) for i in items] == [
        ("2026-11-01", 18, 13),
        ("2026-11-02", 104, 104),
    ]
    assert [i.cost for i in items] == [Decimal("0.71"), Decimal("1.00")]  # 10 x 0.05 + 3 x 0.07
    assert [i.unpriced_messages for i in items] == [0, 4]  # no authentication price
    total = usage._sum(UsageItem(messages=0, billable_messages=0), items, card(tmp_path))
    assert (total.cost, total.unpriced_messages, total.billable_messages) == (
        Decimal("1.71"),
        4,
        117,
    )
