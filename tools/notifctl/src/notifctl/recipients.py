"""``notifctl recipients erase``: erase a person (GDPR Art. 17) as the operator.

The same erasure as ``DELETE /v1/recipients/{recipient}`` (``ingest.account.erasure``, then the
ledger's part within seconds), for any tenant's data, plus the messages the dispatcher
set aside (``dispatcher.quarantine``) that mention the person, which only the operator
reaches.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from sqlalchemy import text

from ingest.account import erasure
from ingest.api.schemas import recipient_form
from notif_core.db import make_engine
from notif_core.settings import CoreSettings

_DISPATCHER_MENTIONS = text(
    "DELETE FROM dispatcher.quarantine WHERE EXISTS (SELECT 1 FROM "
    "unnest(CAST(:forms AS text[])) AS f WHERE strpos(body, '\"' || f || '\"') > 0)"
)


def register(sub: Any) -> None:
    parser = sub.add_parser("recipients", help="erase a person's personal data")
    actions = parser.add_subparsers(dest="action", required=True)
    erase = actions.add_parser("erase", help="erase a recipient everywhere (GDPR Art. 17)")
    erase.add_argument("recipient", type=_recipient, help="a number in any form, or a BSUID")


def _recipient(value: str) -> str:
    try:
        return recipient_form(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    async def go() -> int:
        engine = make_engine(CoreSettings().database_url, pool_size=1, application_name="notifctl")
        try:
            async with engine.begin() as conn:
                forms = await erasure.person_forms(conn, args.recipient)
                done = await erasure.erase(
                    conn, args.recipient, None, requested_by="notifctl", every=forms
                )
                mentions = {"forms": sorted(forms)}
                set_aside = (await conn.execute(_DISPATCHER_MENTIONS, mentions)).rowcount
        finally:
            await engine.dispose()
        print(
            f"erasure {done.request_id} requested: {done.notifications} notification(s) "
            f"erased in ingest, {set_aside} dispatcher quarantine row(s) dropped; the ledger "
            "completes it within seconds"
        )
        return 0

    return asyncio.run(go())
