"""A group commit that fails for one request's data is committed again request by request:
the others are accepted, and only the one at fault learns of it.

The door refuses what it knows PostgreSQL would refuse (an offset beyond ±15:59 once failed
whole groups of unrelated requests); this covers whatever it does not know yet, with a
duplicate notification id standing in for such a request.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from tests.conftest import Stack, recipient
from tests.e2e.api import hello
from tests.e2e.services import Services

from ingest.account.keys import Tenant, create_tenant_with_key
from ingest.api.schemas import NotificationRequest
from ingest.notifications import accept
from ingest.notifications.group_commit import GroupCommitter
from notif_core.db import make_engine
from notif_core.ids import new_id


async def test_one_bad_request_fails_alone_and_the_group_is_accepted(stack: Stack) -> None:
    database_url = await asyncio.to_thread(stack.new_database, "groups", migrated=True)
    engine = make_engine(database_url, pool_size=2)
    async with engine.begin() as conn:
        tenant_id, _ = await create_tenant_with_key(conn, "groups")
    tenant = Tenant(tenant_id, "groups", ("100000000000001",), None, None, new_id(), "wn_live_x")
    now = datetime.now(UTC)

    def prepared() -> accept.Prepared:
        return accept.prepare(tenant, NotificationRequest.model_validate(hello(recipient())), now)

    committer = GroupCommitter(engine)
    try:
        first = prepared()
        await committer.submit(tenant, [first], None)
        duplicate = dataclasses.replace(prepared(), id=first.id)  # the row exists already
        good = [prepared() for _ in range(6)]
        results = await asyncio.gather(
            *(committer.submit(tenant, [p], None) for p in [*good[:3], duplicate, *good[3:]]),
            return_exceptions=True,
        )
    finally:
        await committer.stop()
    assert [isinstance(r, IntegrityError) for r in results] == [False] * 3 + [True] + [False] * 3
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT count(*) FROM ingest.notifications WHERE id = ANY(:ids)"),
                {"ids": [p.id for p in good]},
            )
        ).scalar_one()
    await engine.dispose()
    assert stored == len(good)


@pytest.mark.e2e
@pytest.mark.parametrize("offset", ["+19:00", "-18:00", "+23:59", "+16:00"])
def test_any_offset_iso_8601_allows_is_accepted_and_held_in_utc(
    services: Services, api_key: str, offset: str
) -> None:
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    sign = 1 if offset[0] == "+" else -1
    zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    at = (datetime.now(UTC) + timedelta(days=1)).astimezone(zone).replace(microsecond=0)
    body = hello(recipient()) | {
        "send_at": at.isoformat(),
        "expires_at": (at + timedelta(days=2)).isoformat(),
    }
    response = httpx.post(
        services.url("ingest") + "/v1/notifications", json=body, headers={"X-API-Key": api_key}
    )
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["status"] == "scheduled"
    assert datetime.fromisoformat(answer["send_at"]) == at
    assert datetime.fromisoformat(answer["send_at"]).utcoffset() == timedelta(0)
