"""``notifctl quarantine list|retry|drop``: what each stage set aside, and putting it back.

Where each stage keeps what it set aside, reached through the functions its owner publishes
(``ingest_contract.py``, ``dispatcher_contract.py``, ``ledger_contract.py``):

- relay: outbox rows set aside; retry makes the row due again, drop deletes it.
- dispatcher, ledger: their quarantine tables; retry sends the stored body back to the
  queue it was taken from, then deletes the row; drop deletes the row.
- callbacks: status callbacks in state ``quarantined`` (the reason class leads their last
  error); retry makes them ``pending`` and due now, drop ends them ``failed``.

Lines name the item, its reason and notification, never a phone number; bodies only with
``--show-body``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notif_core.db import make_engine
from notif_core.quarantine import STAGES, Stage, lenient_ids
from notif_core.settings import CoreSettings
from notifctl import dispatcher_contract, ingest_contract, ledger_contract
from notifctl.sqs import queue_url, sqs_client

_LIST = {
    "relay": ingest_contract.QUARANTINE_LIST,
    "dispatcher": dispatcher_contract.QUARANTINE_LIST,
    "ledger": ledger_contract.QUARANTINE_LIST,
    "callbacks": ledger_contract.CALLBACK_QUARANTINE_LIST,
}
_DROP = {
    "relay": ingest_contract.QUARANTINE_DROP,
    "dispatcher": dispatcher_contract.QUARANTINE_DROP,
    "ledger": ledger_contract.QUARANTINE_DROP,
    "callbacks": ledger_contract.CALLBACK_QUARANTINE_DROP,
}
"""Each answers whether there was such an item."""
_RETRY_IN_PLACE = {
    "relay": ingest_contract.QUARANTINE_RETRY,
    "callbacks": ledger_contract.CALLBACK_QUARANTINE_RETRY,
}
_TAKE = {
    "dispatcher": dispatcher_contract.QUARANTINE_HOLD,
    "ledger": ledger_contract.QUARANTINE_HOLD,
}
"""Each locks the row for the transaction, which drops it once the body is sent back."""


@dataclass(frozen=True)
class Row:
    stage: Stage
    id: int
    reason: str
    since: datetime
    notification_id: UUID | None
    body: str

    def line(self, show_body: bool) -> str:
        nid = self.notification_id or lenient_ids(self.body).notification_id
        out = (
            f"{self.stage:<10} {self.id:>8}  {self.reason or '-':<16} "
            f"{self.since.isoformat(timespec='seconds')}  {nid or '-'}"
        )
        return f"{out}\n    {self.body}" if show_body else out


def register(sub: Any) -> None:
    parser = sub.add_parser("quarantine", help="items a stage set aside: list, retry, drop")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="what is set aside, why and since when")
    listing.add_argument("--stage", choices=STAGES)
    listing.add_argument("--limit", type=int, default=100, help="per stage")
    listing.add_argument("--show-body", action="store_true", help="print each stored body")
    for name, what in (
        ("retry", "put the item back where it was taken from"),
        ("drop", "give the item up for good"),
    ):
        action = actions.add_parser(name, help=what)
        action.add_argument("stage", choices=STAGES)
        action.add_argument("id", type=int)


def run(args: argparse.Namespace) -> int:
    async def go() -> int:
        settings = CoreSettings()
        engine = make_engine(settings.database_url, pool_size=2, application_name="notifctl")
        try:
            if args.action == "list":
                stages = [args.stage] if args.stage else list(STAGES)
                return await _list(engine, stages, args.limit, args.show_body)
            if args.action == "drop":
                return _done(await _drop(engine, args.stage, args.id), "dropped", args)
            return _done(await _retry(engine, settings, args.stage, args.id), "retried", args)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _done(found: bool, verb: str, args: argparse.Namespace) -> int:
    if not found:
        print(f"no quarantined {args.stage} item {args.id}", file=sys.stderr)
        return 1
    print(f"{verb} {args.stage} {args.id}")
    return 0


async def _list(engine: AsyncEngine, stages: list[Stage], limit: int, show_body: bool) -> int:
    shown = 0
    for stage in stages:
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(_LIST[stage], {"limit": limit})).all()
        except sa_exc.ProgrammingError as exc:  # a schema not migrated this far yet
            print(f"{stage}: cannot be listed ({type(exc.orig).__name__})", file=sys.stderr)
            continue
        for r in rows:
            print(Row(stage, r.id, r.reason, r.since, r.nid, r.body).line(show_body))
        shown += len(rows)
    print(f"{shown} item(s) set aside")
    return 0


async def _drop(engine: AsyncEngine, stage: Stage, item_id: int) -> bool:
    async with engine.begin() as conn:
        return bool((await conn.execute(_DROP[stage], {"id": item_id})).scalar())


async def _retry(engine: AsyncEngine, settings: CoreSettings, stage: Stage, item_id: int) -> bool:
    async with engine.begin() as conn:
        if stage in _RETRY_IN_PLACE:
            return bool((await conn.execute(_RETRY_IN_PLACE[stage], {"id": item_id})).scalar())
        return await _resend(conn, settings, stage, item_id)


async def _resend(
    conn: AsyncConnection, settings: CoreSettings, stage: Stage, item_id: int
) -> bool:
    """Send the stored body to its queue, then delete the row in the same transaction: if
    the send fails the row stays; if the commit fails the message may arrive twice, which
    every consumer tolerates."""
    row = (await conn.execute(_TAKE[stage], {"id": item_id})).first()
    if row is None:
        return False
    with sqs_client(settings) as client:  # blocking: one send, in a one-shot command
        client.send_message(QueueUrl=queue_url(client, row.queue), MessageBody=row.body)
    await conn.execute(_DROP[stage], {"id": item_id})
    return True
