"""``notifctl keys``: create, list, rotate and revoke API keys, with no restart anywhere.

A key is printed once, when it is created; only its hash and visible prefix are stored.
Rotation creates a new key beside the old ones; revoke the old key once clients moved
(or pass ``--revoke-old``). A revoked key stops working on every replica within seconds.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ingest import keys
from notif_core import callback_url
from notif_core.db import make_engine
from notif_core.settings import CoreSettings


def register(sub: Any) -> None:
    parser = sub.add_parser("keys", help="manage API keys")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key (and the tenant if new)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", help="a label for the key")
    create.add_argument(
        "--phone-number-id", action="append", dest="phone_number_ids", help="sender (repeatable)"
    )
    create.add_argument(
        "--callback-url", type=_callback_url, help="the tenant's default status callback URL"
    )
    listing = actions.add_parser("list", help="list keys (prefixes only)")
    listing.add_argument("--tenant")
    rotate = actions.add_parser("rotate", help="create a new key beside the old ones")
    rotate.add_argument("--tenant", required=True)
    rotate.add_argument("--revoke-old", action="store_true", help="revoke the others now")
    revoke = actions.add_parser("revoke", help="revoke by visible prefix")
    revoke.add_argument("prefix")


def _callback_url(value: str) -> str:
    """Refuses what the API refuses, so a tenant's default URL can always be sent to."""
    reason = callback_url.problem(value)
    if reason is not None:
        raise argparse.ArgumentTypeError(f"callback URL {reason}")
    return value


def run(args: argparse.Namespace) -> int:
    action: Callable[[AsyncConnection, argparse.Namespace], Awaitable[int]] = {
        "create": _create,
        "list": _list,
        "rotate": _rotate,
        "revoke": _revoke,
    }[args.action]

    async def go() -> int:
        engine = make_engine(CoreSettings().database_url, pool_size=1, application_name="notifctl")
        try:
            async with engine.begin() as conn:
                return await action(conn, args)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _show_new_key(key: str, tenant: str) -> None:
    print(f"New API key for tenant {tenant!r} (shown once, store it now):")
    print(key)
    print(f"prefix: {keys.visible_prefix(key)}")


async def _create(conn: AsyncConnection, args: argparse.Namespace) -> int:
    tenant_id = await keys.ensure_tenant(
        conn, args.tenant, phone_number_ids=args.phone_number_ids, callback_url=args.callback_url
    )
    _show_new_key(await keys.add_key(conn, tenant_id, name=args.name), args.tenant)
    return 0


async def _list(conn: AsyncConnection, args: argparse.Namespace) -> int:
    rows = await keys.list_keys(conn, args.tenant)
    print(f"{'prefix':<14} {'tenant':<20} {'name':<16} {'created':<26} revoked")
    for k in rows:
        revoked = k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "-"
        created = k.created_at.isoformat(timespec="seconds")
        print(f"{k.prefix:<14} {k.tenant:<20} {k.name or '-':<16} {created:<26} {revoked}")
    return 0


async def _rotate(conn: AsyncConnection, args: argparse.Namespace) -> int:
    existing = [k for k in await keys.list_keys(conn, args.tenant) if k.revoked_at is None]
    if not existing:
        print(f"tenant {args.tenant!r} has no active key; use `keys create`")
        return 1
    tenant_id = await keys.ensure_tenant(conn, args.tenant)
    new_key = await keys.add_key(conn, tenant_id, name="rotated")
    _show_new_key(new_key, args.tenant)
    if args.revoke_old:
        for old in existing:
            await keys.revoke(conn, old.prefix)
        print(f"revoked {len(existing)} older key(s): {', '.join(k.prefix for k in existing)}")
    else:
        print("older keys stay active until `notifctl keys revoke <prefix>`")
    return 0


async def _revoke(conn: AsyncConnection, args: argparse.Namespace) -> int:
    count = await keys.revoke(conn, args.prefix)
    print(f"revoked {count} key(s) with prefix {args.prefix}")
    return 0 if count else 1
