"""API keys: shown once, stored as a SHA-256 hash plus a short visible prefix.

A tenant may hold several active keys, so rotation is "create the new key, move clients,
revoke the old one", with no restart. A key is revoked by its full id (a UUID), never by
its visible prefix, which two keys may share. Lookups are cached per process for a couple
of seconds, which bounds how long a revoked key keeps working on any replica; unknown keys
are cached too (a bounded number of them), so a client repeating a wrong key reaches
PostgreSQL once per cache period at most.

Keys given to ``API_KEYS`` are checked for strength before anything starts
(:func:`key_weakness`); the keys ingest generates always pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
import re
import secrets
import string
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from sqlalchemy import any_, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest.account import callback_secrets
from ingest.tables import api_keys, tenants
from notif_core.ids import new_id

KEY_PREFIX = "wn_live_"
VISIBLE_CHARS = 12
KEY_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")
"""What ``secrets.token_urlsafe`` writes, and all a key's secret part may hold."""
MIN_SECRET_CHARS = 32
MIN_BITS_PER_CHAR = 3.5
"""Shannon entropy of the secret part's characters: 3.5 bits each is at least 112 bits over
32 characters. A generated key (43 characters of 64 possible) measures about 4.6 and never
came near 3.9 in a million draws; a key of a dozen distinct characters measures under 3.6."""
MAX_STEP_SHARE = 1 / 3
"""At most this share of neighbouring characters one code point step apart by the same
amount (``abcdef…``, ``ababab…``, ``aaaa…``); a generated key stays under a fifth."""
REPEAT_BLOCK = 8
"""No run of this many characters may appear twice (a short secret pasted several times);
in a generated key that happens about once in 10^12."""
CACHED_KEYS = 10_000
"""Known keys each replica caches; more are looked up again, the oldest first."""
CACHED_UNKNOWN_KEYS = 10_000
"""Unknown (or revoked) keys each replica remembers as unknown: about 2.5 MB at most. Kept
apart from the known ones, so a flood of garbage keys cannot push a real key out."""
PHONE_NUMBER_ID = re.compile(r"[0-9]{5,20}")
"""What a sender number must look like (``ingest.api.schemas.PHONE_NUMBER_ID_PATTERN``)."""
SENDERS_LOCK = 7303
"""``pg_advisory_xact_lock`` key taken while numbers are assigned: two assignments of the
same number cannot both see it free."""


class SenderRefused(ValueError):
    """A sender number that cannot be assigned: malformed, or another tenant's."""


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
    """The tenant of that name, created if missing (its settings updated when given).

    ``phone_number_ids`` replaces the tenant's sender numbers; a number another tenant
    holds, or one that is not 5 to 20 digits, raises :class:`SenderRefused` before
    anything is written."""
    tenant_id = (
        await conn.execute(select(tenants.c.id).where(tenants.c.name == name))
    ).scalar_one_or_none()
    changes: dict[str, object] = {}
    if phone_number_ids is not None:
        await check_senders(conn, name, phone_number_ids)
        changes["phone_number_ids"] = list(dict.fromkeys(phone_number_ids))
    if callback_url is not None:
        changes["callback_url"] = callback_url
    if tenant_id is None:
        tenant_id = new_id()
        await conn.execute(tenants.insert().values(id=tenant_id, name=name, **changes))
        await callback_secrets.add(conn, tenant_id)
    elif changes:
        await conn.execute(tenants.update().where(tenants.c.id == tenant_id).values(**changes))
    return tenant_id


async def check_senders(conn: AsyncConnection, tenant_name: str, numbers: list[str]) -> None:
    """Raise :class:`SenderRefused` unless every number is well formed and held by no
    tenant but ``tenant_name``. Takes a lock held to the end of the transaction, so that
    a concurrent assignment of the same number waits and then sees this one."""
    for number in numbers:
        if not PHONE_NUMBER_ID.fullmatch(number):
            raise SenderRefused(
                f"phone number id {number!r} is not a Meta phone number id (5 to 20 digits)"
            )
    if not numbers:
        return
    await conn.execute(select(func.pg_advisory_xact_lock(SENDERS_LOCK)))
    rows = await conn.execute(
        select(tenants.c.name, tenants.c.phone_number_ids).where(
            tenants.c.name != tenant_name, tenants.c.phone_number_ids.overlap(numbers)
        )
    )
    for row in rows:
        taken = sorted(set(numbers) & set(row.phone_number_ids or ()))
        raise SenderRefused(
            f"phone number id {', '.join(taken)} is already assigned to tenant {row.name!r}; "
            "a number belongs to one tenant"
        )


async def holder(conn: AsyncConnection, phone_number_id: str) -> str | None:
    """The name of the tenant that holds the number, if any."""
    return (
        await conn.execute(
            select(tenants.c.name).where(
                literal(phone_number_id) == any_(tenants.c.phone_number_ids)
            )
        )
    ).scalar_one_or_none()


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


def key_weakness(key: str) -> str | None:
    """Why ``key`` is too weak to be accepted as an API key, or None.

    Its secret part (after ``wn_live_``) must be at least 32 characters of the URL-safe
    alphabet, measure at least 3.5 bits per character (Shannon entropy of its characters),
    not follow a sequence, and not repeat a run of 8 characters. Never says the key.
    """
    if not key.startswith(KEY_PREFIX):
        return f"it does not start with {KEY_PREFIX}"
    secret = key.removeprefix(KEY_PREFIX)
    if len(secret) < MIN_SECRET_CHARS:
        return f"its secret part is shorter than {MIN_SECRET_CHARS} characters"
    if not KEY_ALPHABET.issuperset(secret):
        return "its secret part holds characters other than A-Z, a-z, 0-9, - and _"
    counts = Counter(secret).values()
    bits = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts)
    if bits < MIN_BITS_PER_CHAR:
        return "its secret part repeats too few distinct characters"
    steps = Counter(ord(b) - ord(a) for a, b in itertools.pairwise(secret))
    if max(steps.values()) > MAX_STEP_SHARE * (len(secret) - 1):
        return "its secret part follows a sequence"
    blocks = [secret[i : i + REPEAT_BLOCK] for i in range(len(secret) - REPEAT_BLOCK + 1)]
    if len(set(blocks)) < len(blocks):
        return f"its secret part repeats a run of {REPEAT_BLOCK} characters"
    return None


def bootstrap_problem(spec: str | None) -> str | None:
    """Why ``API_KEYS`` must not be used, or None: an entry that is not
    ``<tenant>:wn_live_<secret>[:…]``, or a key :func:`key_weakness` refuses. Names the
    entry's position or its tenant, never a key. Checked at start-up and by
    :func:`bootstrap_keys` before it adds anything."""
    if spec is None:
        return None
    for position, item in enumerate(filter(None, (p.strip() for p in spec.split(","))), 1):
        tenant_name, sep, rest = item.partition(":")
        key = rest.split(":")[0]
        if not sep or not tenant_name or not key.startswith(KEY_PREFIX):
            return (
                f"API_KEYS entries look like <tenant>:{KEY_PREFIX}<secret>[:<phone_number_id>…]"
                f" (entry {position} does not)"
            )
        weakness = key_weakness(key)
        if weakness is not None:
            return (
                f"API_KEYS: the key of tenant {tenant_name!r} is too weak ({weakness}); "
                "create keys with `notifctl keys create` instead"
            )
        numbers = rest.split(":")[1:]
        if any(not PHONE_NUMBER_ID.fullmatch(n) for n in numbers):
            return f"API_KEYS: a phone number id of tenant {tenant_name!r} is not 5 to 20 digits"
    return None


async def bootstrap_keys(conn: AsyncConnection, spec: str) -> int:
    """``API_KEYS="tenant:key,other:key2:100000000000002"``: make sure each key exists for
    its tenant, and that the tenant holds the sender numbers listed after the key
    (colon-separated; none: the tenant's numbers are left as they are).

    Returns how many keys were added; keys already present are left as they are. A number
    another tenant holds raises :class:`SenderRefused` (ingest does not start).
    """
    problem = bootstrap_problem(spec)
    if problem is not None:
        raise ValueError(problem)
    added = 0
    for item in filter(None, (part.strip() for part in spec.split(","))):
        tenant_name, sep, rest = item.partition(":")
        key, *numbers = rest.split(":")
        if not sep or not key.startswith(KEY_PREFIX) or not tenant_name:
            raise ValueError(
                "API_KEYS entries look like <tenant>:wn_live_<secret>[:<phone_number_id>…]"
            )
        exists = (
            await conn.execute(select(api_keys.c.id).where(api_keys.c.key_hash == hash_key(key)))
        ).first()
        if exists is None or numbers:
            tenant_id = await ensure_tenant(conn, tenant_name, phone_number_ids=numbers or None)
        if exists is None:
            await add_key(conn, tenant_id, key, name="API_KEYS")
            added += 1
    return added


_KEY_INFO = (
    api_keys.c.id,
    tenants.c.name,
    api_keys.c.prefix,
    api_keys.c.name.label("key_name"),
    api_keys.c.created_at,
    api_keys.c.revoked_at,
)
"""The columns of a :class:`KeyInfo`, as listing and revoking read them."""


async def list_keys(conn: AsyncConnection, tenant_name: str | None = None) -> list[KeyInfo]:
    query = (
        select(*_KEY_INFO)
        .join(tenants, tenants.c.id == api_keys.c.tenant_id)
        .order_by(tenants.c.name, api_keys.c.created_at)
    )
    if tenant_name is not None:
        query = query.where(tenants.c.name == tenant_name)
    return [
        KeyInfo(r.id, r.name, r.prefix, r.key_name, r.created_at, r.revoked_at)
        for r in await conn.execute(query)
    ]


async def revoke(conn: AsyncConnection, key_id: UUID) -> KeyInfo | None:
    """Revoke exactly the active key with this id; returns it, or None when no active key
    has that id. Never by visible prefix: two keys may share one."""
    row = (
        await conn.execute(
            update(api_keys)
            .where(
                api_keys.c.id == key_id,
                api_keys.c.revoked_at.is_(None),
                api_keys.c.tenant_id == tenants.c.id,
            )
            .values(revoked_at=func.now())
            .returning(*_KEY_INFO)
        )
    ).one_or_none()
    if row is None:
        return None
    return KeyInfo(row.id, row.name, row.prefix, row.key_name, row.created_at, row.revoked_at)


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


V = TypeVar("V")


class _Expiring(Generic[V]):
    """At most ``size`` entries, each for ``ttl`` seconds. Every entry lives as long, so
    insertion order is expiry order: expired entries leave from the front, and when full
    the oldest goes first."""

    def __init__(self, ttl: float, size: int) -> None:
        self._ttl = ttl
        self._size = size
        self._items: dict[str, tuple[float, V]] = {}

    def get(self, key: str) -> V | None:
        hit = self._items.get(key)
        if hit is None:
            return None
        if hit[0] <= time.monotonic():
            del self._items[key]
            return None
        return hit[1]

    def put(self, key: str, value: V) -> None:
        if self._ttl <= 0:
            return
        now = time.monotonic()
        self._items.pop(key, None)
        while self._items:
            oldest = next(iter(self._items))
            if self._items[oldest][0] > now and len(self._items) < self._size:
                break
            del self._items[oldest]
        self._items[key] = (now + self._ttl, value)

    def discard(self, key: str) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


class KeyCache:
    """Lookups, kept ``ttl`` seconds: a revocation reaches every replica by then.

    Known keys are kept (up to :data:`CACHED_KEYS`), and so are unknown ones (up to
    :data:`CACHED_UNKNOWN_KEYS`, apart): a wrong key repeated reaches PostgreSQL once per
    ``ttl`` per replica, and a flood of distinct ones costs bounded memory. A key the
    database did not know when it was asked is refused for up to ``ttl`` after it is
    created; only an operator-chosen key (``API_KEYS``) can be asked for before it exists,
    since generated ones are random.

    One lookup per key at a time: when an entry expires under load, the requests arriving
    together wait for the same query instead of each sending its own.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        ttl: float,
        *,
        known: int = CACHED_KEYS,
        unknown: int = CACHED_UNKNOWN_KEYS,
    ) -> None:
        self._engine = engine
        self._known: _Expiring[Tenant] = _Expiring(ttl, known)
        self._unknown: _Expiring[bool] = _Expiring(ttl, unknown)
        self._lookups: dict[str, asyncio.Future[Tenant | None]] = {}

    @property
    def unknown_cached(self) -> int:
        """How many unknown keys are remembered now (bounded)."""
        return len(self._unknown)

    async def tenant_for(self, key: str) -> Tenant | None:
        if not key.startswith(KEY_PREFIX):
            return None  # never asks the database
        digest = hash_key(key)
        hit = self._known.get(digest)
        if hit is not None:
            return hit
        if self._unknown.get(digest):
            return None
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
            self._known.discard(digest)
            self._unknown.put(digest, True)
            return None
        self._unknown.discard(digest)
        self._known.put(digest, tenant)
        return tenant
