"""API keys: shown once, stored as a SHA-256 hash plus a short visible prefix."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.tables import api_keys, tenants
from notif_core.ids import new_id

KEY_PREFIX = "wn_live_"
VISIBLE_CHARS = 12


@dataclass(frozen=True)
class Tenant:
    id: UUID
    name: str
    phone_number_id: str | None
    key_prefix: str


def generate_key() -> str:
    """``wn_live_`` + 32 random bytes, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def visible_prefix(key: str) -> str:
    return key[:VISIBLE_CHARS]


async def create_tenant_with_key(
    conn: AsyncConnection, name: str, *, phone_number_id: str | None = None
) -> tuple[UUID, str]:
    """Create a tenant (or reuse one of that name) and a new key; returns the key in clear."""
    tenant_id = (
        await conn.execute(select(tenants.c.id).where(tenants.c.name == name))
    ).scalar_one_or_none()
    if tenant_id is None:
        tenant_id = new_id()
        await conn.execute(
            tenants.insert().values(id=tenant_id, name=name, phone_number_id=phone_number_id)
        )
    key = generate_key()
    await conn.execute(
        api_keys.insert().values(
            id=new_id(), tenant_id=tenant_id, prefix=visible_prefix(key), key_hash=hash_key(key)
        )
    )
    return tenant_id, key


async def authenticate(conn: AsyncConnection, key: str) -> Tenant | None:
    """The tenant an active key belongs to, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    row = (
        await conn.execute(
            select(tenants.c.id, tenants.c.name, tenants.c.phone_number_id, api_keys.c.prefix)
            .join(api_keys, api_keys.c.tenant_id == tenants.c.id)
            .where(api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_at.is_(None))
        )
    ).one_or_none()
    if row is None:
        return None
    return Tenant(
        id=row.id, name=row.name, phone_number_id=row.phone_number_id, key_prefix=row.prefix
    )
