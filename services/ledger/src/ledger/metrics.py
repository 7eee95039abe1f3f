"""The ledger's Prometheus metrics. Labels carry statuses and event types, never a
notification id, a phone number or a tenant's key."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram

from ledger.store import Appended

EVENTS = Counter("ledger_events_appended", "New events stored, by type.", ["type"])
STATUSES = Counter(
    "ledger_notifications_status",
    "Notifications reaching each lifecycle status (accepted, sent, delivered, read, failed…).",
    ["status"],
)
LAG = Histogram(
    "ledger_lag_seconds",
    "From an event's occurred_at to its projection (committed).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)


def record(appended: Appended) -> None:
    """After commit: what a batch added."""
    now = time.time()
    for event in appended.events:
        EVENTS.labels(event.type).inc()
        LAG.observe(max(0.0, now - event.occurred_at.timestamp()))
    for status in appended.statuses:
        STATUSES.labels(status).inc()
