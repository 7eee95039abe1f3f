"""``notifctl recipients erase``: erase a person (GDPR Art. 17) as the operator.

The same erasure as ``DELETE /v1/recipients/{recipient}`` (``ingest.account.erasure``, then the
ledger's part within seconds), for any tenant's data, plus the messages the dispatcher
set aside that quote the person (``dispatcher.quarantine_erase_v1``, through
``dispatcher_contract.py``), which only the operator reaches.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ingest.account import erasure
from ingest.api.schemas import recipient_form
from notif_core.db import make_engine
from notif_core.settings import CoreSettings
from notifctl import dispatcher_contract


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
                erased = await conn.execute(dispatcher_contract.QUARANTINE_ERASE, mentions)
                set_aside = int(erased.scalar_one())
        finally:
            await engine.dispose()
        print(
            f"erasure {done.request_id} requested: {done.notifications} notification(s) "
            f"erased in ingest, {set_aside} dispatcher quarantine row(s) dropped; the ledger "
            "completes it within seconds"
        )
        return 0

    return asyncio.run(go())
