"""``notifctl keys``: create, list, rotate and revoke API keys, with no restart anywhere.

A key is printed once, when it is created; only its hash and visible prefix are stored.
Rotation creates a new key beside the old ones; revoke the old key once clients moved
(or pass ``--revoke-old``). A revoked key stops working on every replica within seconds.
``keys revoke`` takes the key's full id (a UUID, as ``keys list`` shows it) and revokes
exactly that key; a visible prefix is refused, since two keys may share one.

``keys ensure`` is the idempotent form for provisioning (``notif-local`` keeps the
development tenant with it): the tenant, its senders and an active key, each made only
where missing. ``--json`` prints a created key as one JSON object, for programs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.account import keys
from ingest.tables import tenants
from notif_core import callback_url
from notif_core.db import make_engine
from notif_core.egress import Policy
from notif_core.settings import CoreSettings


def register(sub: Any) -> None:
    parser = sub.add_parser("keys", help="manage API keys")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key (and the tenant if new)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", help="a label for the key")
    create.add_argument(
        "--phone-number-id",
        action="append",
        dest="phone_number_ids",
        type=_phone_number_id,
        help="sender the tenant holds (repeatable; replaces its numbers; one tenant per number)",
    )
    create.add_argument(
        "--callback-url", type=_callback_url, help="the tenant's default status callback URL"
    )
    create.add_argument("--json", action="store_true", help=JSON_HELP)
    ensure = actions.add_parser(
        "ensure", help="the tenant, its senders and an active key, each made only if missing"
    )
    ensure.add_argument("--tenant", required=True)
    ensure.add_argument("--name", help="a label for the key, if one is created")
    ensure.add_argument(
        "--phone-number-id",
        action="append",
        dest="phone_number_ids",
        type=_phone_number_id,
        help="sender the tenant holds besides its own (repeatable; one tenant per number)",
    )
    ensure.add_argument(
        "--skip-taken",
        action="store_true",
        help="leave out a number another tenant holds (a note on stderr) instead of refusing",
    )
    ensure.add_argument(
        "--key-stdin",
        action="store_true",
        help="read a key from standard input and keep it while it is the tenant's active key",
    )
    ensure.add_argument("--json", action="store_true", help=JSON_HELP)
    listing = actions.add_parser("list", help="list keys: full id, visible prefix, tenant")
    listing.add_argument("--tenant")
    rotate = actions.add_parser("rotate", help="create a new key beside the old ones")
    rotate.add_argument("--tenant", required=True)
    rotate.add_argument("--revoke-old", action="store_true", help="revoke the others now")
    revoke = actions.add_parser("revoke", help="revoke one key by its full id (keys list)")
    revoke.add_argument("key_id", type=_key_id, help="the key's id, a UUID (not its prefix)")


JSON_HELP = "print one JSON object: tenant, key, prefix, created, phone_number_ids"


def _callback_url(value: str) -> str:
    """Refuses what the API refuses, so a tenant's default URL can always be sent to: a URL
    the client cannot use, and one the deployment's policy does not let callbacks reach
    (``CALLBACK_ALLOW_PRIVATE``: https to public addresses only, unless it is on)."""
    reason = callback_url.problem(value)
    if reason is None:
        reason = callback_url.refusal_now(value, Policy.of(CoreSettings()))
        if reason is not None:
            reason = f"is not allowed: it {reason}"
    if reason is not None:
        raise argparse.ArgumentTypeError(f"callback URL {reason}")
    return value


def _phone_number_id(value: str) -> str:
    """Refuses what ingest refuses: a Meta phone number id is 5 to 20 digits."""
    if not keys.PHONE_NUMBER_ID.fullmatch(value):
        raise argparse.ArgumentTypeError(f"phone number id {value!r} is not 5 to 20 digits")
    return value


def _key_id(value: str) -> UUID:
    """A key's full id; a prefix (``wn_live_…``) or a piece of an id is refused."""
    try:
        return UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "give the key's full id (a UUID, shown by `notifctl keys list`), not a prefix"
        ) from None


def run(args: argparse.Namespace) -> int:
    action: Callable[[AsyncConnection, argparse.Namespace], Awaitable[int]] = {
        "create": _create,
        "ensure": _ensure,
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


def _print_json(key: str, tenant: str, *, created: bool, phone_number_ids: list[str]) -> None:
    body = {
        "tenant": tenant,
        "key": key,
        "prefix": keys.visible_prefix(key),
        "created": created,
        "phone_number_ids": phone_number_ids,
    }
    print(json.dumps(body))


async def _create(conn: AsyncConnection, args: argparse.Namespace) -> int:
    try:
        tenant_id = await keys.ensure_tenant(
            conn,
            args.tenant,
            phone_number_ids=args.phone_number_ids,
            callback_url=args.callback_url,
        )
    except keys.SenderRefused as exc:  # raised before anything is written
        print(f"notifctl keys create: {exc}", file=sys.stderr)
        return 2
    key = await keys.add_key(conn, tenant_id, name=args.name)
    if args.json:
        numbers = await _numbers_of(conn, args.tenant)
        _print_json(key, args.tenant, created=True, phone_number_ids=numbers)
    else:
        _show_new_key(key, args.tenant)
    return 0


async def _ensure(conn: AsyncConnection, args: argparse.Namespace) -> int:
    """Keep what is in place; add what is missing. A given key that no longer authenticates,
    or is another tenant's, is replaced by a new one (the old one is not revoked: it already
    does not work, or is not this tenant's to revoke)."""
    given = sys.stdin.readline().strip() if args.key_stdin else ""
    caller = await keys.authenticate(conn, given) if given else None
    if caller is not None and caller.name != args.tenant:
        caller = None
    held = await _numbers_of(conn, args.tenant)
    added: list[str] = []
    for number in args.phone_number_ids or ():
        if number in held or number in added:
            continue
        owner = await keys.holder(conn, number)
        if owner is not None and args.skip_taken:
            print(
                f"notifctl keys ensure: phone number id {number} stays with tenant {owner!r}",
                file=sys.stderr,
            )
            continue
        added.append(number)
    try:
        tenant_id = await keys.ensure_tenant(
            conn, args.tenant, phone_number_ids=[*held, *added] if added else None
        )
    except keys.SenderRefused as exc:  # raised before anything is written
        print(f"notifctl keys ensure: {exc}", file=sys.stderr)
        return 2
    key = given if caller is not None else await keys.add_key(conn, tenant_id, name=args.name)
    if args.json:
        _print_json(key, args.tenant, created=caller is None, phone_number_ids=[*held, *added])
    elif caller is None:
        _show_new_key(key, args.tenant)
    else:
        print(f"key {keys.visible_prefix(key)}… of tenant {args.tenant!r} is active; kept")
    if added and not args.json:
        print(f"tenant {args.tenant!r} now also holds {', '.join(added)}")
    return 0


async def _numbers_of(conn: AsyncConnection, tenant: str) -> list[str]:
    """The sender numbers the tenant holds (none if there is no such tenant)."""
    numbers = (
        await conn.execute(select(tenants.c.phone_number_ids).where(tenants.c.name == tenant))
    ).scalar_one_or_none()
    return list(numbers or ())


async def _list(conn: AsyncConnection, args: argparse.Namespace) -> int:
    rows = await keys.list_keys(conn, args.tenant)
    print(f"{'id':<36} {'prefix':<14} {'tenant':<20} {'name':<16} {'created':<26} revoked")
    for k in rows:
        revoked = k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "-"
        created = k.created_at.isoformat(timespec="seconds")
        print(
            f"{k.id!s:<36} {k.prefix:<14} {k.tenant:<20} {k.name or '-':<16} {created:<26} "
            f"{revoked}"
        )
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
            await keys.revoke(conn, old.id)
        print(f"revoked {len(existing)} older key(s): {', '.join(str(k.id) for k in existing)}")
    else:
        print("older keys stay active until `notifctl keys revoke <id>`")
    return 0


async def _revoke(conn: AsyncConnection, args: argparse.Namespace) -> int:
    revoked = await keys.revoke(conn, args.key_id)
    if revoked is None:
        print(f"no active key has id {args.key_id}")
        return 1
    print(f"revoked key {revoked.id} ({revoked.prefix}…) of tenant {revoked.tenant!r}")
    return 0
