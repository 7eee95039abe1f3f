"""The development tenant and its API key, kept in ``.local/dev-api-key`` across runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ingest.keys import authenticate, create_tenant_with_key
from notif_core.db import make_engine

DEV_TENANT = "dev"


def ensure_dev_key(database_url: str, key_file: Path) -> str:
    """Reuse the saved key while it still authenticates; otherwise create one and save it."""

    saved = key_file.read_text().strip() if key_file.exists() else ""

    async def go() -> str:
        engine = make_engine(database_url, pool_size=1, application_name="notif-local")
        try:
            async with engine.begin() as conn:
                if saved and await authenticate(conn, saved) is not None:
                    return saved
                _, key = await create_tenant_with_key(conn, DEV_TENANT)
                return key
        finally:
            await engine.dispose()

    key = asyncio.run(go())
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key
