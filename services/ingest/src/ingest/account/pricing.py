"""Cost estimates of usage from a rate card the operator keeps (``RATE_CARD_PATH``).

Meta charges per delivered billable template message, by pricing category and recipient
country, since 1 July 2025 ("Pricing on the WhatsApp Business Platform",
developers.facebook.com/documentation/business-messaging/whatsapp/pricing). Its categories:
``marketing``, ``marketing_lite``, ``utility``, ``authentication``,
``authentication_international``, ``service``, ``referral_conversion``. Prices change, so
they are data: a CSV of ``country,category,price,currency`` (``*`` for every country not
listed), one currency per file, read on each request so an updated file counts at once.
The shipped ``rate_card.example.csv`` holds example prices, not Meta's.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ingest.api.errors import ApiError

EXAMPLE = Path(__file__).with_name("rate_card.example.csv")
ANY_COUNTRY = "*"


@dataclass(frozen=True)
class RateCard:
    """Prices per (country, category), in one ``currency``; ``name``: the file's name."""

    name: str
    currency: str
    prices: dict[tuple[str, str], Decimal]

    def price(self, country: str | None, category: str | None) -> Decimal | None:
        """The price of one billable message, the country's or else ``*``'s; None when the
        card has neither."""
        if category is None:
            return None
        found = self.prices.get(((country or "").upper(), category))
        return found if found is not None else self.prices.get((ANY_COUNTRY, category))


def load(path: Path | None) -> RateCard:
    """The card at ``path`` (the example when None); raises :class:`ApiError` 503
    ``rate_card_unavailable`` for a file that cannot be read or makes no sense, naming the
    line, never the file's contents."""
    source = path or EXAMPLE
    try:
        text = source.read_text(encoding="utf-8")
    except OSError:
        raise _unusable(source, "it cannot be read") from None
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    rows = list(csv.DictReader(lines))
    prices: dict[tuple[str, str], Decimal] = {}
    currencies = set()
    for number, row in enumerate(rows, start=1):
        try:
            country = row["country"].strip().upper()
            category = row["category"].strip().lower()
            price = Decimal(row["price"].strip())
            currencies.add(row["currency"].strip().upper())
        except (KeyError, AttributeError, InvalidOperation):
            raise _unusable(
                source, f"data line {number - 1} is not country,category,price,currency"
            ) from None
        if not price.is_finite() or price < 0 or not category:
            raise _unusable(source, f"data line {number - 1} has no usable price")
        prices[(country, category)] = price
    if len(currencies) != 1:
        raise _unusable(source, "it must name exactly one currency")
    return RateCard(source.name, currencies.pop(), prices)


def _unusable(source: Path, why: str) -> ApiError:
    return ApiError(
        503, "rate_card_unavailable", f"The rate card {source.name} is unusable: {why}."
    )
