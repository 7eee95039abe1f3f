"""``notifctl inbound``: where a tenant receives its customers' messages, as the operator
(the same settings as ``PUT /v1/inbound/callback``, ``ingest.inbound.routes``)."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from ingest.inbound import routes
from ingest.settings import IngestSettings
from notif_core import callback_url
from notif_core.db import make_engine
from notif_core.egress import Policy


def register(sub: Any) -> None:
    parser = sub.add_parser("inbound", help="where tenants receive inbound messages")
    actions = parser.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="a tenant's inbound callback URLs, as JSON")
    show.add_argument("--tenant", required=True)
    url = actions.add_parser("url", help="set (or --remove) a tenant's inbound callback URL")
    url.add_argument("--tenant", required=True)
    url.add_argument("--phone-number-id", help="only for this number of the tenant's")
    target = url.add_mutually_exclusive_group(required=True)
    target.add_argument("url", nargs="?", help="https URL the messages are POSTed to")
    target.add_argument("--remove", action="store_true")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    settings = IngestSettings()
    new_url: str | None = None if getattr(args, "remove", False) else getattr(args, "url", None)
    if args.action == "url" and new_url is not None:
        reason = callback_url.problem(new_url) or await callback_url.refusal(
            new_url, Policy.of(settings)
        )
        if reason is not None:
            print(f"refused: the URL {reason}")
            return 2
    engine = make_engine(settings.database_url, pool_size=1, application_name="notifctl")
    try:
        async with engine.begin() as conn:
            found = await routes.tenant_numbers(conn, args.tenant)
            if found is None:
                print(f"no tenant named {args.tenant!r}")
                return 2
            tenant, numbers = found
            if args.action == "url":
                number = args.phone_number_id
                if number is not None and number not in numbers:
                    print(f"refused: {number} is not one of {args.tenant}'s numbers")
                    return 2
                await routes.set_url(conn, tenant, new_url, number)
            current = await routes.current(conn, tenant)
    finally:
        await engine.dispose()
    print(json.dumps(current.model_dump()))
    return 0
