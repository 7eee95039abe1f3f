"""Accepted notifications, written by group commit (:mod:`ingest.group_commit`).

An Idempotency-Key conflict or replay is its own request's outcome alone; a group without
keys is one statement on an autocommit connection, with no BEGIN and COMMIT round trips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.account.keys import Tenant
from ingest.api.errors import ApiError
from ingest.group_commit import GroupCommit
from ingest.notifications import accept, idempotency
from notif_core.db import autocommit


@dataclass(frozen=True)
class IdempotencySpec:
    key: str
    digest: str
    answer: dict[str, Any]
    status_code: int = 202


@dataclass(frozen=True)
class _Submission:
    tenant: Tenant
    prepared: list[accept.Prepared]
    idem: IdempotencySpec | None


Outcome = idempotency.Stored | None


class GroupCommitter:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._autocommit = autocommit(engine)
        self._group: GroupCommit[_Submission, Outcome] = GroupCommit(
            self._write, "notifications", size=lambda sub: sum(len(p.body) for p in sub.prepared)
        )

    async def stop(self) -> None:
        await self._group.stop()

    async def submit(
        self, tenant: Tenant, prepared: list[accept.Prepared], idem: IdempotencySpec | None
    ) -> Outcome:
        """Durably accept; returns the stored answer when the Idempotency-Key was used."""
        return await self._group.submit(_Submission(tenant, prepared, idem))

    async def _write(self, group: Sequence[_Submission]) -> list[Outcome | Exception]:
        if all(sub.idem is None for sub in group):
            async with self._autocommit.connect() as conn:
                await accept.write(conn, [(s.tenant, p) for s in group for p in s.prepared])
            return [None] * len(group)
        outcomes: dict[int, Outcome | Exception] = {}
        await self._write_with_keys(group, outcomes)
        return [outcomes.get(index) for index in range(len(group))]

    async def _write_with_keys(
        self, group: Sequence[_Submission], outcomes: dict[int, Outcome | Exception]
    ) -> None:
        """One transaction: reserve each Idempotency-Key, then write the requests that won
        theirs (or had none); a replay or a conflict is that request's outcome alone."""
        async with self._engine.begin() as conn:
            live: list[_Submission] = []
            for index, sub in enumerate(group):
                if sub.idem is None:
                    live.append(sub)
                    continue
                try:
                    stored = await idempotency.reserve(
                        conn,
                        sub.tenant.id,
                        sub.idem.key,
                        sub.idem.digest,
                        sub.idem.status_code,
                        sub.idem.answer,
                    )
                except ApiError as exc:
                    outcomes[index] = exc
                    continue
                if stored is not None:
                    outcomes[index] = stored
                else:
                    live.append(sub)
            await accept.write(conn, [(sub.tenant, p) for sub in live for p in sub.prepared])
