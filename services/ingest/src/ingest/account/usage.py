"""Usage and cost reports from the ledger's usage read model (Meta's pricing per message), read
through the ledger's ``usage_v1`` (``ingest/ledger_contract.py``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, get_args
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from ingest import ledger_contract
from ingest.account.pricing import RateCard
from ingest.api.errors import ApiError
from ingest.api.schemas import UsageDimension, UsageItem, UsageReport

MAX_DAYS = 366
DIMENSIONS: tuple[str, ...] = get_args(UsageDimension)


def parse_group_by(value: str) -> list[UsageDimension]:
    """``day``, ``category,country``, …: the dimensions to group by, in the order given."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    unknown = [p for p in parts if p not in DIMENSIONS]
    if unknown or not parts or len(set(parts)) != len(parts):
        raise ApiError(
            400,
            "invalid_group_by",
            f"group_by takes distinct values among {', '.join(DIMENSIONS)}, comma-separated.",
            field="group_by",
        )
    return parts  # type: ignore[return-value]


async def report(
    conn: AsyncConnection,
    tenant_id: UUID,
    start: date,
    end: date,
    group_by: list[UsageDimension],
    card: RateCard | None = None,
) -> UsageReport:
    """Messages and billable messages per ``group_by``; with ``card``, each group's cost
    estimate too (priced per category and country, then summed into the group)."""
    if end < start:
        raise ApiError(400, "invalid_range", "from must not be after to.", field="from")
    if (end - start).days >= MAX_DAYS:
        raise ApiError(400, "invalid_range", f"At most {MAX_DAYS} days per report.", field="to")
    priced_by = [*group_by, *(d for d in PRICED_BY if card and d not in group_by)]
    columns = ", ".join(priced_by)  # only names from DIMENSIONS reach the SQL
    query = ledger_contract.usage(columns)
    rows = [
        r._mapping
        for r in await conn.execute(query, {"tenant": tenant_id, "start": start, "end": end})
    ]
    items = _fold(rows, group_by, card)
    total = _sum(UsageItem(messages=0, billable_messages=0), items, card)
    return UsageReport(
        from_=start,
        to=end,
        group_by=group_by,
        items=items,
        total=total,
        currency=card.currency if card else None,
        rate_card=card.name if card else None,
    )


PRICED_BY: tuple[UsageDimension, ...] = ("category", "country")
"""What Meta's price depends on: a cost report reads usage at least this finely."""


def _fold(
    rows: list[Any], group_by: list[UsageDimension], card: RateCard | None
) -> list[UsageItem]:
    """One item per ``group_by`` key (in the order the rows come), each row priced first."""
    items: dict[tuple[Any, ...], UsageItem] = {}
    for row in rows:
        key = tuple(row[d] for d in group_by)
        item = items.get(key)
        if item is None:
            item = items[key] = UsageItem(
                **{d: row[d] for d in group_by}, messages=0, billable_messages=0
            )
        _add(item, int(row["messages"]), int(row["billable_messages"]), card, row)
    return list(items.values())


def _add(item: UsageItem, messages: int, billable: int, card: RateCard | None, row: Any) -> None:
    item.messages += messages
    item.billable_messages += billable
    if card is None:
        return
    price = card.price(row["country"], row["category"])
    item.cost = (item.cost or Decimal(0)) + (price * billable if price is not None else 0)
    item.unpriced_messages = (item.unpriced_messages or 0) + (billable if price is None else 0)


def _sum(total: UsageItem, items: list[UsageItem], card: RateCard | None) -> UsageItem:
    for item in items:
        total.messages += item.messages
        total.billable_messages += item.billable_messages
        if card is not None:
            total.cost = (total.cost or Decimal(0)) + (item.cost or 0)
            total.unpriced_messages = (total.unpriced_messages or 0) + (item.unpriced_messages or 0)
    return total
