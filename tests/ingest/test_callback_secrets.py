"""A tenant has at most two active callback secrets: rotating again expires every previous
secret but the newest one at once, so a leaked secret cannot be kept alive by rotations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.account import callback_secrets
from ingest.account.keys import ensure_tenant
from notif_core.ids import new_id


async def test_rotations_leave_the_new_secret_and_the_newest_previous_one(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        tenant = await ensure_tenant(conn, f"secrets-{new_id()}")
        (first,) = (await callback_secrets.active(conn, tenant)).secrets
    seen = [first.secret]
    for _ in range(3):  # one transaction each, as the API does
        async with engine.begin() as conn:
            rotated = await callback_secrets.rotate(conn, tenant, overlap_seconds=3600)
        seen.insert(0, rotated.secrets[0].secret)
        assert [s.secret for s in rotated.secrets] == seen[:2]
        previous = rotated.secrets[1].expires_at
        assert previous is not None
        assert previous > datetime.now(UTC) + timedelta(minutes=59)
    async with engine.connect() as conn:
        active = (await callback_secrets.active(conn, tenant)).secrets
        # What the ledger signs with: its own query on the same table.
        signing = (
            await conn.execute(
                text(
                    "SELECT secret FROM ingest.callback_secrets WHERE tenant_id = :t "
                    "AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at DESC"
                ),
                {"t": tenant},
            )
        ).scalars()
        total = (
            await conn.execute(
                text("SELECT count(*) FROM ingest.callback_secrets WHERE tenant_id = :t"),
                {"t": tenant},
            )
        ).scalar_one()
    assert [s.secret for s in active] == seen[:2]
    assert list(signing) == seen[:2]
    assert total == 4  # the older ones are kept, expired


async def test_a_rotation_without_overlap_leaves_one_secret(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        tenant = await ensure_tenant(conn, f"secrets-{new_id()}")
        await callback_secrets.rotate(conn, tenant, overlap_seconds=3600)
    async with engine.begin() as conn:
        final = await callback_secrets.rotate(conn, tenant, overlap_seconds=0)
    async with engine.connect() as conn:
        active = (await callback_secrets.active(conn, tenant)).secrets
    assert [s.secret for s in active] == [final.secrets[0].secret]
    assert active[0].expires_at is None
