"""The ledger's projection into PostgreSQL: events/s with batch appends (the consumer's way)
against one event per transaction, in the same run on the same database.

Each notification contributes a realistic stream: accepted, sent, usage.billed, delivered,
read, with a third of the statuses naming only the wamid (as Meta's webhooks may), arriving
before their ``sent`` and therefore parked. Writes ``bench/results/ledger-<UTC>.json``.
Uses an embedded PostgreSQL on a free loopback port (or DATABASE_URL when set).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from results_file import write_result
from sqlalchemy import text

from ledger import store
from ledger.main import migrate
from notif_core import events as ev
from notif_core.db import make_engine
from notif_core.ids import derived_id, new_id
from notif_local.ports import free_port
from notif_local.postgres import EmbeddedPostgres


def stream(count: int) -> list[ev.Event]:
    """``count`` notifications' events, statuses of every third one ahead of its sent."""
    out: list[ev.Event] = []
    tenant = new_id()
    for i in range(count):
        nid, wamid = new_id(), f"wamid.bench.{new_id().hex}"
        accepted = ev.NotificationAccepted(
            producer="bench",
            tenant_id=tenant,
            notification_id=nid,
            payload=ev.AcceptedPayload(to=f"+1415{i % 10**7:07d}", message={"type": "template"}),
        )
        t = accepted.occurred_at
        echo = None if i % 3 == 0 else nid  # Meta's biz_opaque_callback_data, or not
        sent = ev.NotificationSent(
            event_id=derived_id(wamid, "sent"),
            producer="bench",
            notification_id=nid,
            occurred_at=t + timedelta(seconds=1),
            payload=ev.SentPayload(wamid=wamid),
        )
        statuses: list[ev.Event] = [
            ev.UsageBilled(
                event_id=derived_id(wamid, "usage"),
                producer="bench",
                notification_id=echo,
                occurred_at=t + timedelta(seconds=2),
                payload=ev.UsagePayload(wamid=wamid, category="utility", billable=True),
            ),
            ev.NotificationDelivered(
                event_id=derived_id(wamid, "delivered"),
                producer="bench",
                notification_id=echo,
                occurred_at=t + timedelta(seconds=2),
                payload=ev.StatusPayload(wamid=wamid),
            ),
            ev.NotificationRead(
                event_id=derived_id(wamid, "read"),
                producer="bench",
                notification_id=echo,
                occurred_at=t + timedelta(seconds=3),
                payload=ev.StatusPayload(wamid=wamid),
            ),
        ]
        out += [accepted, *statuses, sent] if echo is None else [accepted, sent, *statuses]
    return out


async def measure(database_url: str, events: list[ev.Event], batch: int) -> dict[str, Any]:
    engine = make_engine(database_url, pool_size=2, application_name="bench")
    try:
        t0 = time.perf_counter()
        for start in range(0, len(events), batch):
            async with engine.begin() as conn:
                await store.append(conn, events[start : start + batch])
        elapsed = time.perf_counter() - t0
    finally:
        await engine.dispose()
    return {
        "batch_size": batch,
        "events": len(events),
        "seconds": round(elapsed, 2),
        "events_per_second": round(len(events) / elapsed),
    }


async def check(database_url: str) -> dict[str, int]:
    """Every notification of the run ended read: nothing parked was left behind."""
    engine = make_engine(database_url, pool_size=1, application_name="bench")
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT status, count(*) FROM ledger.notifications GROUP BY status")
            )
            return {r[0]: int(r[1]) for r in rows}
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notifications", type=int, default=4000, help="5 events each")
    parser.add_argument("--single", type=int, default=600, help="notifications, one per txn")
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="notif-bench-"))
    postgres = None
    try:
        database_url = os.environ.get("DATABASE_URL", "")
        if not database_url:
            postgres = EmbeddedPostgres(root / "pgdata", free_port())
            database_url = postgres.start()
        migrate(database_url)
        batched = asyncio.run(measure(database_url, stream(args.notifications), args.batch))
        single = asyncio.run(measure(database_url, stream(args.single), 1))
        statuses = asyncio.run(check(database_url))
    finally:
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(root, ignore_errors=True)
    result = {
        "batched": batched,
        "one_per_transaction": single,
        "speedup": round(batched["events_per_second"] / single["events_per_second"], 1),
        "final_statuses": statuses,
    }
    write_result("ledger", "make bench-ledger", result)


if __name__ == "__main__":
    main()
