"""``notifctl ledger rebuild``: rebuild every read model from the event store and swap it in;
``notifctl ledger verify``: rebuild aside and count what differs from the live tables;
``notifctl ledger purge``: one retention pass now (``NOTIFICATION_RETENTION_DAYS``), in the
ledger and in ingest, as the ledger's and the relay's housekeeping run it."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.relay.process import purge_expired
from ingest.settings import IngestSettings
from ledger import retention
from ledger.rebuild import compare, rebuild
from ledger.settings import LedgerSettings
from notif_core.db import make_engine


def register(sub: Any) -> None:
    parser = sub.add_parser("ledger", help="the ledger's read models")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("rebuild", help="replay the event store into fresh read models, swap")
    actions.add_parser("verify", help="replay aside and compare with the live read models")
    actions.add_parser(
        "purge", help="delete what is past NOTIFICATION_RETENTION_DAYS now (ledger and ingest)"
    )


def run(args: argparse.Namespace) -> int:
    async def go() -> int:
        settings = LedgerSettings()
        engine = make_engine(settings.database_url, pool_size=2, application_name="notifctl")
        try:
            if args.action == "purge":
                return await _purge(engine, settings)
            if args.action == "verify":
                differences = await compare(engine, settings.keywords())
                for table, count in differences.items():
                    print(f"{table}: {count} rows differ")
                return 1 if any(differences.values()) else 0
            report = await rebuild(engine, settings.keywords())
        finally:
            await engine.dispose()
        print(f"rebuilt from {report.events} events: {report.notifications} notifications")
        return 0

    return asyncio.run(go())


async def _purge(engine: AsyncEngine, settings: LedgerSettings) -> int:
    """Ingest first, as its relay would: a notification never outlives its ledger row there."""
    if settings.notification_retention_days <= 0:
        print("NOTIFICATION_RETENTION_DAYS is 0: everything is kept")
        return 0
    await purge_expired(engine, IngestSettings())
    counts = await retention.purge(engine, settings.notification_retention_days)
    if counts is None:
        print("skipped: a rebuild, a verify or another purge is running")
        return 1
    for table, count in sorted(counts.items()):
        print(f"{table}: {count} rows deleted")
    return 0
