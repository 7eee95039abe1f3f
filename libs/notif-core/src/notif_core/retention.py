"""The retention purges' one metric, shared by ingest's relay and the ledger (a process that
imports both registers it once): ``notif_retention_purged_total{table}``. The label is a
table name from a fixed list, never a recipient, a tenant or an id."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter

TABLES: Final = (
    "ingest.notifications",
    "ingest.idempotency_keys",
    "ingest.outbox",
    "ingest.webhook_inbox",
    "ledger.notifications",
    "ledger.events",
    "ledger.callbacks",
    "ledger.windows",
)
PURGED = Counter(
    "notif_retention_purged",
    "Rows deleted by the retention purges, by table.",
    ["table"],
)
for _table in TABLES:  # every series exists from the start, at 0, so increase() sees the 1st
    PURGED.labels(table=_table)


def record(table: str, count: int) -> None:
    """Count rows a purge deleted from ``table`` (one of :data:`TABLES`)."""
    if table not in TABLES:
        raise ValueError(f"not a retention table: {table}")
    PURGED.labels(table=table).inc(count)
