"""The template catalogues in ``ingest.templates``: replaced whole by each sync, changed by
status webhooks, read by the door through an in-process copy (:class:`Catalogue`).

The copy is read again by the first request after it is ``max_age`` seconds old (one
read, shared by the requests of that moment), so no answer rests on a copy older than that;
a template (or a business account) the copy does not know is looked up again (at most once
a second) before it is refused or passed unchecked, so one approved or synced a moment ago
is not missed for the copy's age. A business account never synced is *unavailable*: its
sends pass through unchecked, as does every send while the catalogue cannot be read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest.tables import template_catalogues, templates
from ingest.templates.definition import Definition
from ingest.webhooks.meta_webhooks import TemplateChange
from notif_core.logging import get_logger

log = get_logger(__name__)
MAX_AGE_SECONDS = 5.0
RECHECK_UNKNOWN_SECONDS = 1.0
"""An unknown template is looked up again when the copy is older than this."""


@dataclass(frozen=True)
class Unknown:
    """No template of that name in that language; ``languages`` it does exist in."""

    languages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unavailable:
    """The business account's catalogue was never synced, or cannot be read now."""


Lookup = Definition | Unknown | Unavailable


def _definition(row: Row[Any]) -> Definition:
    fields = dict(row._mapping)
    del fields["updated_at"]
    return Definition(**fields)


async def replace(engine: AsyncEngine, waba_id: str, definitions: Sequence[Definition]) -> None:
    """Make ``definitions`` the business account's whole catalogue, in one transaction."""
    async with engine.begin() as conn:
        await conn.execute(delete(templates).where(templates.c.waba_id == waba_id))
        rows = {
            (d.name, d.language): {
                "waba_id": waba_id,
                "name": d.name,
                "language": d.language,
                "meta_id": d.meta_id,
                "category": d.category,
                "status": d.status,
                "parameter_format": d.parameter_format,
                "components": d.components,
            }
            for d in definitions
        }
        if rows:
            await conn.execute(insert(templates), list(rows.values()))
        stmt = insert(template_catalogues).values(
            waba_id=waba_id, synced_at=func.now(), templates=len(rows), sync_requested_at=None
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["waba_id"],
                set_={
                    "synced_at": stmt.excluded.synced_at,
                    "templates": stmt.excluded.templates,
                    "sync_requested_at": None,
                },
            )
        )


async def changed(conn: AsyncConnection, change: TemplateChange) -> None:
    """A status webhook's change (by Meta's template id, else by name and language), and a
    request that the next sync come soon: the webhook says what changed, the sync brings
    the rest (a new template, a new category)."""
    c = templates.c
    if change.status is not None:
        which = (
            c.meta_id == change.meta_id
            if change.meta_id
            else and_(c.name == change.name, c.language == change.language)
        )
        await conn.execute(
            update(templates)
            .where(c.waba_id == change.waba_id, which)
            .values(status=change.status, updated_at=func.now())
        )
    await request_sync(conn, change.waba_id)


async def request_sync(conn: AsyncConnection, waba_id: str) -> None:
    stmt = insert(template_catalogues).values(waba_id=waba_id, sync_requested_at=func.now())
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["waba_id"], set_={"sync_requested_at": stmt.excluded.sync_requested_at}
        )
    )


async def due(engine: AsyncEngine, wabas: Sequence[str], every_seconds: float) -> list[str]:
    """The business accounts to sync now: never synced, synced ``every_seconds`` ago or
    more, or asked for by a webhook since their last sync."""
    c = template_catalogues.c
    async with engine.connect() as conn:
        rows = (await conn.execute(select(c.waba_id, c.synced_at, c.sync_requested_at))).all()
        now = (await conn.execute(select(func.now()))).scalar_one()
    known = {row.waba_id: row for row in rows}
    found = []
    for waba in dict.fromkeys([*wabas, *known]):
        row = known.get(waba)
        if (
            row is None
            or row.synced_at is None
            or row.sync_requested_at is not None
            or (now - row.synced_at).total_seconds() >= every_seconds
        ):
            found.append(waba)
    return found


async def listed(
    engine: AsyncEngine, wabas: Sequence[str], name: str | None = None
) -> list[Definition]:
    """The templates of these business accounts, by name then language."""
    query = select(templates).where(templates.c.waba_id.in_(list(wabas)))
    if name is not None:
        query = query.where(templates.c.name == name)
    query = query.order_by(templates.c.name, templates.c.language, templates.c.waba_id)
    async with engine.connect() as conn:
        return [_definition(row) for row in (await conn.execute(query)).all()]


@dataclass
class _Snapshot:
    loaded_at: float
    synced: frozenset[str]
    by_key: dict[tuple[str, str, str], Definition] = field(default_factory=dict)
    languages: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)


class Catalogue:
    """The door's copy of every catalogue: ``await catalogue.lookup(waba, name, language)``."""

    def __init__(self, engine: AsyncEngine, max_age: float = MAX_AGE_SECONDS) -> None:
        self._engine = engine
        self._max_age = max_age
        self._snapshot: _Snapshot | None = None
        self._loading: asyncio.Task[_Snapshot | None] | None = None

    async def lookup(self, waba_id: str, name: str, language: str) -> Lookup:
        snapshot = self._snapshot
        key = (waba_id, name, language)
        age = time.monotonic() - snapshot.loaded_at if snapshot is not None else float("inf")
        missing = snapshot is None or waba_id not in snapshot.synced or key not in snapshot.by_key
        if age > self._max_age or (missing and age > RECHECK_UNKNOWN_SECONDS):
            snapshot = await self._reload() or snapshot
        if snapshot is None or waba_id not in snapshot.synced:
            return Unavailable()
        found = snapshot.by_key.get(key)
        if found is not None:
            return found
        return Unknown(snapshot.languages.get((waba_id, name), ()))

    async def stop(self) -> None:
        if self._loading is not None:
            await asyncio.gather(self._loading, return_exceptions=True)

    async def _reload(self) -> _Snapshot | None:
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._load())
            self._loading.add_done_callback(self._loaded)
        return await asyncio.shield(self._loading)

    def _loaded(self, task: asyncio.Task[_Snapshot | None]) -> None:
        self._loading = None
        if not task.cancelled() and task.exception() is None and task.result() is not None:
            self._snapshot = task.result()

    async def _load(self) -> _Snapshot | None:
        started = time.monotonic()
        try:
            async with self._engine.connect() as conn:
                rows = (await conn.execute(select(templates))).all()
                synced = (
                    await conn.execute(
                        select(template_catalogues.c.waba_id).where(
                            template_catalogues.c.synced_at.is_not(None)
                        )
                    )
                ).scalars()
                synced_set = frozenset(synced)
        except Exception as exc:  # the database is away: keep the copy there is, for a period
            log.warning("template_catalogue_not_loaded", error=type(exc).__name__)
            old = self._snapshot
            return None if old is None else dataclasses.replace(old, loaded_at=started)
        snapshot = _Snapshot(started, synced_set)
        languages: dict[tuple[str, str], list[str]] = {}
        for row in rows:
            definition = _definition(row)
            snapshot.by_key[(definition.waba_id, definition.name, definition.language)] = definition
            languages.setdefault((definition.waba_id, definition.name), []).append(
                definition.language
            )
        snapshot.languages = {key: tuple(sorted(value)) for key, value in languages.items()}
        return snapshot
