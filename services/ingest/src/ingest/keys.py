"""API keys: shown once, stored as a SHA-256 hash plus a short visible prefix.

A tenant may hold several active keys, so rotation is "create the new key, move clients,
revoke the old one", with no restart. Lookups are cached per process for a couple of
seconds, which bounds how long a revoked key keeps working on any replica.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest import callback_secrets
from ingest.tables import api_keys, tenants
from notif_core.ids import new_id

KEY_PREFIX = "wn_live_"
VISIBLE_CHARS = 12


@dataclass(frozen=True)
class Tenant:
    """The caller, as resolved from its API key."""

    id: UUID
    name: str
    phone_number_ids: tuple[str, ...]
    callback_url: str | None
    rate_limit_per_second: int | None
    key_id: UUID
    key_prefix: str


@dataclass(frozen=True)
class KeyInfo:
    id: UUID
    tenant: str
    prefix: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None


def generate_key() -> str:
    """``wn_live_`` + 32 random bytes, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def visible_prefix(key: str) -> str:
    return key[:VISIBLE_CHARS]


async def ensure_tenant(
    conn: AsyncConnection,
    name: str,
    *,
    phone_number_ids: list[str] | None = None,
    callback_url: str | None = None,
) -> UUID:
    """The tenant of that name, created if missing (its settings updated when given)."""
    tenant_id = (
        await conn.execute(select(tenants.c.id).where(tenants.c.name == name))
    ).scalar_one_or_none()
    changes: dict[str, object] = {}
    if phone_number_ids is not None:
        changes["phone_number_ids"] = phone_number_ids
    if callback_url is not None:
        changes["callback_url"] = callback_url
    if tenant_id is None:
        tenant_id = new_id()
        await conn.execute(tenants.insert().values(id=tenant_id, name=name, **changes))
        await callback_secrets.add(conn, tenant_id)
    elif changes:
        await conn.execute(tenants.update().where(tenants.c.id == tenant_id).values(**changes))
    return tenant_id


async def add_key(
    conn: AsyncConnection, tenant_id: UUID, key: str | None = None, name: str | None = None
) -> str:
    """Store a key for the tenant (a new random one unless given); returns it in clear."""
    key = key or generate_key()
    await conn.execute(
        api_keys.insert().values(
            id=new_id(),
            tenant_id=tenant_id,
            prefix=visible_prefix(key),
            key_hash=hash_key(key),
            name=name,
        )
    )
    return key


async def create_tenant_with_key(
    conn: AsyncConnection, name: str, *, phone_number_ids: list[str] | None = None
) -> tuple[UUID, str]:
    tenant_id = await ensure_tenant(conn, name, phone_number_ids=phone_number_ids)
    return tenant_id, await add_key(conn, tenant_id)


async def bootstrap_keys(conn: AsyncConnection, spec: str) -> int:
    """``API_KEYS="tenant:key,other:key2"``: make sure each key exists for its tenant.

    Returns how many keys were added; keys already present are left as they are.
    """
    added = 0
    for item in filter(None, (part.strip() for part in spec.split(","))):
        tenant_name, sep, key = item.partition(":")
        if not sep or not key.startswith(KEY_PREFIX) or not tenant_name:
            raise ValueError("API_KEYS entries look like <tenant>:wn_live_<secret>")
        exists = (
            await conn.execute(select(api_keys.c.id).where(api_keys.c.key_hash == hash_key(key)))
        ).first()
        if exists is None:
            await add_key(conn, await ensure_tenant(conn, tenant_name), key, name="API_KEYS")
            added += 1
    return added


async def list_keys(conn: AsyncConnection, tenant_name: str | None = None) -> list[KeyInfo]:
    query = (
        select(
            api_keys.c.id,
            tenants.c.name,
            api_keys.c.prefix,
            api_keys.c.name.label("key_name"),
            api_keys.c.created_at,
            api_keys.c.revoked_at,
        )
        .join(tenants, tenants.c.id == api_keys.c.tenant_id)
        .order_by(tenants.c.name, api_keys.c.created_at)
    )
    if tenant_name is not None:
        query = query.where(tenants.c.name == tenant_name)
    return [
        KeyInfo(r.id, r.name, r.prefix, r.key_name, r.created_at, r.revoked_at)
        for r in await conn.execute(query)
    ]


async def revoke(conn: AsyncConnection, prefix: str) -> int:
    """Revoke every active key with this visible prefix; returns how many."""
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    return result.rowcount or 0


async def authenticate(conn: AsyncConnection, key: str) -> Tenant | None:
    """The tenant an active key belongs to, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    row = (
        await conn.execute(
            select(
                tenants.c.id,
                tenants.c.name,
                tenants.c.phone_number_ids,
                tenants.c.callback_url,
                tenants.c.rate_limit_per_second,
                api_keys.c.id.label("key_id"),
                api_keys.c.prefix,
            )
            .join(api_keys, api_keys.c.tenant_id == tenants.c.id)
            .where(api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_at.is_(None))
        )
    ).one_or_none()
    if row is None:
        return None
    return Tenant(
        id=row.id,
        name=row.name,
        phone_number_ids=tuple(row.phone_number_ids or ()),
        callback_url=row.callback_url,
        rate_limit_per_second=row.rate_limit_per_second,
        key_id=row.key_id,
        key_prefix=row.prefix,
    )


class KeyCache:
    """Successful lookups, kept ``ttl`` seconds: a revocation reaches every replica by then.

    One lookup per key at a time: when an entry expires under load, the requests arriving
    together wait for the same query instead of each sending its own.
    """

    def __init__(self, engine: AsyncEngine, ttl: float) -> None:
        self._engine = engine
        self._ttl = ttl
        self._entries: dict[str, tuple[float, Tenant]] = {}
        self._lookups: dict[str, asyncio.Future[Tenant | None]] = {}

    async def tenant_for(self, key: str) -> Tenant | None:
        digest = hash_key(key)
        hit = self._entries.get(digest)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        lookup = self._lookups.get(digest)
        if lookup is None:
            lookup = asyncio.ensure_future(self._lookup(digest, key))
            self._lookups[digest] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(digest, None))
        # Shielded: a caller that goes away does not cancel the others' lookup.
        return await asyncio.shield(lookup)

    async def _lookup(self, digest: str, key: str) -> Tenant | None:
        async with self._engine.connect() as conn:
            tenant = await authenticate(conn, key)
        if tenant is None:
            self._entries.pop(digest, None)
            return None
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + self._ttl, tenant)
        return tenant
