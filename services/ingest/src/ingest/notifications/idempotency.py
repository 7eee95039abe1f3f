"""``Idempotency-Key``: the same key and body replay the first answer; a new body is refused.

The key row, holding the answer, is inserted in the same transaction as the notification. A
concurrent duplicate blocks on the key's unique index until the first transaction ends, then
finds its answer: so 50 parallel requests with one key create one notification.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.api.errors import ApiError
from ingest.tables import idempotency_keys

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_VALID = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True)
class Stored:
    status_code: int
    response: dict[str, Any]


def check_key(key: str) -> str:
    if not _VALID.match(key):
        raise ApiError(
            400,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters.",
            field=HEADER,
        )
    return key


def request_hash(route: str, body: Any) -> str:
    """A hash of the route and the parsed body, insensitive to key order and whitespace."""
    canonical = json.dumps([route, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def reserve(
    conn: AsyncConnection,
    tenant_id: UUID,
    key: str,
    digest: str,
    status_code: int,
    answer: dict[str, Any],
) -> Stored | None:
    """Claim the key with its answer in the caller's transaction.

    Returns None when the key is new (the caller goes on to accept), or the stored answer
    when it was used with the same request; raises when it was used with another.
    """
    inserted = (
        await conn.execute(
            insert(idempotency_keys)
            .values(
                tenant_id=tenant_id,
                key=key,
                request_hash=digest,
                status_code=status_code,
                response=answer,
            )
            .on_conflict_do_nothing()
            .returning(idempotency_keys.c.key)
        )
    ).first()
    if inserted is not None:
        return None
    row = (
        await conn.execute(
            select(
                idempotency_keys.c.request_hash,
                idempotency_keys.c.status_code,
                idempotency_keys.c.response,
            ).where(idempotency_keys.c.tenant_id == tenant_id, idempotency_keys.c.key == key)
        )
    ).one()
    if row.request_hash != digest:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different request body.",
            field=HEADER,
        )
    return Stored(row.status_code, row.response)


async def purge(conn: AsyncConnection, older_than_hours: float) -> int:
    result = await conn.execute(
        delete(idempotency_keys).where(
            idempotency_keys.c.created_at
            < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, older_than_hours * 3600)
        )
    )
    return result.rowcount or 0
