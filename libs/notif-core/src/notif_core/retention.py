"""The retention purges' one metric, shared by ingest's relay and the ledger (a process that
imports both registers it once): ``notif_retention_purged_total{table}``. The label is a
table name from a fixed list, never a recipient, a tenant or an id; each service names its
own tables (:func:`counted`), since only it knows them."""

from __future__ import annotations

from prometheus_client import Counter

PURGED = Counter(
    "notif_retention_purged",
    "Rows deleted by the retention purges, by table.",
    ["table"],
)
_COUNTED: set[str] = set()


def counted(*tables: str) -> tuple[str, ...]:
    """Declare the tables a service's purges count (its own schema's); returns them. Every
    series then exists from the start, at 0, so increase() sees the first purge."""
    for table in tables:
        PURGED.labels(table=table)
        _COUNTED.add(table)
    return tables


def record(table: str, count: int) -> None:
    """Count rows a purge deleted from ``table`` (declared with :func:`counted`)."""
    if table not in _COUNTED:
        raise ValueError(f"not a retention table: {table}")
    PURGED.labels(table=table).inc(count)
