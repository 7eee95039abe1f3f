"""The development tenant and its API key, kept in ``.local/dev-api-key`` across runs.

The dev tenant holds the sandbox's sender (``WHATSAPP_PHONE_NUMBER_ID``), as a tenant of a
production deployment holds its numbers: the local stack runs with the same tenant walls as
production (``SINGLE_TENANT`` unset), so what works locally works deployed, and a second
tenant made with ``notifctl keys create`` needs a number of its own, as it would there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.keys import authenticate, create_tenant_with_key, ensure_tenant, holder
from notif_core.db import make_engine
from notif_core.settings import CoreSettings

DEV_TENANT = "dev"


def ensure_dev_key(database_url: str, key_file: Path, sender: str | None = None) -> str:
    """Reuse the saved key while it still authenticates; otherwise create one and save it.
    The dev tenant holds ``sender`` (default: ``WHATSAPP_PHONE_NUMBER_ID``) unless another
    tenant does."""

    saved = key_file.read_text().strip() if key_file.exists() else ""
    number = sender or CoreSettings().whatsapp_phone_number_id

    async def go() -> str:
        engine = make_engine(database_url, pool_size=1, application_name="notif-local")
        try:
            async with engine.begin() as conn:
                caller = await authenticate(conn, saved) if saved else None
                if caller is not None:
                    if not caller.phone_number_ids:  # a dev tenant from before senders
                        await _hold(conn, caller.name, number)
                    return saved
                free = await holder(conn, number) in (None, DEV_TENANT)
                _, key = await create_tenant_with_key(
                    conn, DEV_TENANT, phone_number_ids=[number] if free else None
                )
                return key
        finally:
            await engine.dispose()

    key = asyncio.run(go())
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


async def _hold(conn: AsyncConnection, tenant: str, number: str) -> None:
    if await holder(conn, number) is None:
        await ensure_tenant(conn, tenant, phone_number_ids=[number])
