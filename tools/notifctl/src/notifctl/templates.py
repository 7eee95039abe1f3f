"""``notifctl templates``: the template catalogues ingest checks template sends against.

``sync`` fetches every business account's catalogue from Meta now (the relay also does,
at start and every TEMPLATE_SYNC_SECONDS); ``list`` prints what is stored, one JSON object
per line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import httpx

from ingest import meta_reads
from ingest.settings import IngestSettings
from ingest.templates import catalogue, sync
from notif_core.db import make_engine


def register(sub: Any) -> None:
    templates = sub.add_parser("templates", help="template catalogues (sync, list)")
    actions = templates.add_subparsers(dest="action", required=True)
    actions.add_parser("sync", help="fetch every business account's catalogue from Meta now")
    listing = actions.add_parser("list", help="the stored templates, one JSON line each")
    listing.add_argument("--waba", help="one business account (default: every configured one)")
    listing.add_argument("--name", help="one template's languages")


def run(args: argparse.Namespace) -> int:
    try:
        code = asyncio.run(_run(args))
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (``notifctl templates list | head``): not an error. Point
        # stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


async def _run(args: argparse.Namespace) -> int:
    settings = IngestSettings()
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        if args.action == "sync":
            async with httpx.AsyncClient(timeout=sync.TIMEOUT_SECONDS) as client:
                outcome = await meta_reads.read_due(
                    engine, client, settings, sync.SOURCE, every=True
                )
            for waba_id, count in outcome.items():
                print(
                    json.dumps(
                        {"waba_id": waba_id, "synced": count is not None, "templates": count}
                    )
                )
            return 0 if all(count is not None for count in outcome.values()) else 1
        wabas = [args.waba] if args.waba else settings.wabas()
        for d in await catalogue.listed(engine, wabas, args.name):
            line = {
                "waba_id": d.waba_id,
                "name": d.name,
                "language": d.language,
                "category": d.category,
                "status": d.status,
                "parameter_format": d.parameter_format,
                "components": d.components,
            }
            sys.stdout.write(json.dumps(line) + "\n")
        return 0
    finally:
        await engine.dispose()
