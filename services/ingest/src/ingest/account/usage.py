"""Usage and cost reports from the ledger's usage read model (Meta's pricing per message), read
through the ledger's ``usage_v1`` (``ingest/ledger_contract.py``)."""

from __future__ import annotations

from datetime import date
from typing import Any, get_args
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from ingest import ledger_contract
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
    conn: AsyncConnection, tenant_id: UUID, start: date, end: date, group_by: list[UsageDimension]
) -> UsageReport:
    if end < start:
        raise ApiError(400, "invalid_range", "from must not be after to.", field="from")
    if (end - start).days >= MAX_DAYS:
        raise ApiError(400, "invalid_range", f"At most {MAX_DAYS} days per report.", field="to")
    columns = ", ".join(group_by)  # only names from DIMENSIONS reach the SQL
    query = ledger_contract.usage(columns)
    rows = list(await conn.execute(query, {"tenant": tenant_id, "start": start, "end": end}))
    items = [_item(r._mapping, group_by) for r in rows]
    total = UsageItem(
        messages=sum(i.messages for i in items),
        billable_messages=sum(i.billable_messages for i in items),
    )
    return UsageReport(from_=start, to=end, group_by=group_by, items=items, total=total)


def _item(row: Any, group_by: list[UsageDimension]) -> UsageItem:
    return UsageItem(
        **{d: row[d] for d in group_by},
        messages=int(row["messages"]),
        billable_messages=int(row["billable_messages"]),
    )
