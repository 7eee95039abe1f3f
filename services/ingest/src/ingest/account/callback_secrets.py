"""Per-tenant secrets that sign status callbacks.

Every tenant starts with one. A rotation adds a new secret and lets the previous one live on
for an overlap period (older ones expire at once: two active secrets at most, so a leaked
secret is never kept alive by rotating again); the ledger signs each callback with every
active secret (one ``v1=`` each), so the customer can switch its verifier at any moment of
the overlap without a failed check.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from uuid import UUID

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.api.schemas import CallbackSecret, CallbackSecrets
from ingest.tables import callback_secrets
from notif_core.events import utcnow
from notif_core.ids import new_id

SECRET_PREFIX = "whsec_"  # noqa: S105 - a visible prefix, not a secret


def generate() -> str:
    return SECRET_PREFIX + secrets.token_hex(32)


async def add(conn: AsyncConnection, tenant_id: UUID) -> None:
    await conn.execute(
        callback_secrets.insert().values(id=new_id(), tenant_id=tenant_id, secret=generate())
    )


async def active(conn: AsyncConnection, tenant_id: UUID) -> CallbackSecrets:
    table = callback_secrets
    rows = await conn.execute(
        select(table)
        .where(
            table.c.tenant_id == tenant_id,
            or_(table.c.expires_at.is_(None), table.c.expires_at > func.now()),
        )
        .order_by(table.c.created_at.desc(), table.c.id.desc())
    )
    return CallbackSecrets(
        secrets=[
            CallbackSecret(
                id=r.id, secret=r.secret, created_at=r.created_at, expires_at=r.expires_at
            )
            for r in rows
        ]
    )


async def rotate(conn: AsyncConnection, tenant_id: UUID, overlap_seconds: int) -> CallbackSecrets:
    """Add a secret. The newest of the previous ones lives on for the overlap (never later
    than before); any older one expires now, so a tenant never has more than two."""
    until = utcnow() + timedelta(seconds=overlap_seconds)
    table = callback_secrets
    live = or_(table.c.expires_at.is_(None), table.c.expires_at > func.now())
    newest = (
        select(table.c.id)
        .where(table.c.tenant_id == tenant_id, live)
        .order_by(table.c.created_at.desc(), table.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    await conn.execute(
        update(table)
        .where(table.c.tenant_id == tenant_id, live, table.c.id != newest)
        .values(expires_at=func.now())
    )
    await conn.execute(
        update(table)
        .where(
            table.c.tenant_id == tenant_id,
            or_(table.c.expires_at.is_(None), table.c.expires_at > until),
        )
        .values(expires_at=until)
    )
    await add(conn, tenant_id)
    return await active(conn, tenant_id)
