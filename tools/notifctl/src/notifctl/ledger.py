"""``notifctl ledger rebuild``: rebuild every read model from the event store and swap it in;
``notifctl ledger verify``: rebuild aside and count what differs from the live tables."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ledger.rebuild import compare, rebuild
from ledger.settings import LedgerSettings
from notif_core.db import make_engine


def register(sub: Any) -> None:
    parser = sub.add_parser("ledger", help="the ledger's read models")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("rebuild", help="replay the event store into fresh read models, swap")
    actions.add_parser("verify", help="replay aside and compare with the live read models")


def run(args: argparse.Namespace) -> int:
    async def go() -> int:
        settings = LedgerSettings()
        engine = make_engine(settings.database_url, pool_size=2, application_name="notifctl")
        try:
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
