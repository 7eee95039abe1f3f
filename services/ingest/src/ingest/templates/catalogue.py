"""The template catalogues in ``ingest.templates``: replaced by each sync, changed by status
webhooks, read by the door through an in-process copy (:class:`Catalogue`).

A sync notes the database's time before it asks Meta; a status webhook that lands while it
waits for Meta's answer is newer than that answer, so :func:`replace` keeps the status it
set and the request for the next sync it made. Only the business accounts the settings
name are synced (:func:`due`); a webhook for any other changes nothing.

The door's copy is brought up to date in the background every ``max_age`` seconds, and
incrementally: the rows changed since the last read, and the whole key set of a business
account whose sync landed (its ``synced_at`` moved), which is how a template Meta no
longer lists leaves the copy. No request waits for a read once a copy exists (only the
first one does), so an answer rests on a copy at most ``max_age`` plus one read old while
the database answers. A template or business account the copy does not know is looked up
by one point query before it is refused or passed unchecked (at most once a second per
template, at most ``POINT_QUERIES_PER_SECOND`` in all; beyond that the copy answers), so
one approved or synced a moment ago is not missed for the copy's age. A business account
never synced is *unavailable*: its sends pass through unchecked, as does every send while
the catalogue cannot be read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, case, delete, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest.metrics import TEMPLATE_STATUS_IGNORED
from ingest.tables import template_catalogues, templates
from ingest.templates.definition import Definition
from ingest.webhooks.meta_webhooks import TemplateChange
from notif_core.logging import get_logger

log = get_logger(__name__)
MAX_AGE_SECONDS = 5.0
RECHECK_UNKNOWN_SECONDS = 1.0
"""A template the copy does not know is looked up again at most this often."""
POINT_QUERIES_PER_SECOND = 50.0
"""Point queries for templates the copy does not know, in all: a flood of unknown names
costs the database at most this many primary-key reads a second."""
OVERLAP_SECONDS = 5.0
"""Each incremental read looks at the rows stamped since the previous read's database time
less this: a webhook stamps its rows when its statement runs (``clock_timestamp()``, after
any sync of the account holding its lock ended) and commits a moment later. A sync's rows
are read with the sync itself (its ``synced_at`` moves), however long it took."""
DELETE_CHUNK = 1000
READ_CHUNK = 500
_FIELDS = ("meta_id", "category", "status", "parameter_format", "components")


@dataclass(frozen=True)
class Unknown:
    """No template of that name in that language; ``languages`` it does exist in."""

    languages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unavailable:
    """The business account's catalogue was never synced, or cannot be read now."""


Lookup = Definition | Unknown | Unavailable


def _definition(row: Row[Any]) -> Definition:
    m = row._mapping
    return Definition(
        waba_id=m["waba_id"],
        name=m["name"],
        language=m["language"],
        category=m["category"],
        status=m["status"],
        components=m["components"],
        parameter_format=m["parameter_format"],
        meta_id=m["meta_id"],
    )


async def replace(
    engine: AsyncEngine,
    waba_id: str,
    definitions: Sequence[Definition],
    started: datetime | None = None,
) -> None:
    """Make ``definitions`` (Meta's answer to a sync begun at ``started``, the database's
    clock) the business account's catalogue, in one transaction.

    Templates Meta no longer lists are deleted; only rows that differ are written (so
    ``updated_at`` moves only for a real change, which is what the door's copy reads). A
    row a webhook changed after ``started`` keeps its status: the webhook is newer than
    Meta's answer. A sync asked for after ``started`` stays asked for. Without ``started``
    the answer counts as current."""
    c, k = templates.c, template_catalogues.c
    wanted = {
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
    async with engine.begin() as conn:
        # One replace of an account at a time; a webhook's change of it waits for this one
        # (it locks the same catalogue row first), then applies to the rows written here.
        await conn.execute(
            insert(template_catalogues).values(waba_id=waba_id).on_conflict_do_nothing()
        )
        now = (
            await conn.execute(
                select(func.now())
                .select_from(template_catalogues)
                .where(k.waba_id == waba_id)
                .with_for_update()
            )
        ).scalar_one()
        since = started or now
        existing = {
            (row.name, row.language): row
            for row in (
                await conn.execute(
                    select(c.name, c.language, c.updated_at, *(c[f] for f in _FIELDS))
                    .where(c.waba_id == waba_id)
                    .with_for_update()
                )
            ).all()
        }
        changed = []
        for key, row in wanted.items():
            old = existing.get(key)
            if old is not None and old.updated_at > since:
                row["status"] = old.status
            if old is None or any(getattr(old, f) != row[f] for f in _FIELDS):
                changed.append(row)
        if changed:
            stmt = insert(templates)
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["waba_id", "name", "language"],
                    set_={**{f: stmt.excluded[f] for f in _FIELDS}, "updated_at": func.now()},
                ),
                changed,
            )
        gone = [key for key in existing if key not in wanted]
        for at in range(0, len(gone), DELETE_CHUNK):
            await conn.execute(
                delete(templates).where(
                    c.waba_id == waba_id,
                    tuple_(c.name, c.language).in_(gone[at : at + DELETE_CHUNK]),
                )
            )
        await conn.execute(
            update(template_catalogues)
            .where(k.waba_id == waba_id)
            .values(
                synced_at=func.now(),
                templates=len(wanted),
                sync_requested_at=case(
                    (k.sync_requested_at > since, k.sync_requested_at), else_=None
                ),
            )
        )


async def changed(conn: AsyncConnection, change: TemplateChange) -> None:
    """A status webhook's change (by Meta's template id, else by name and language), and a
    request that the next sync come soon: the webhook says what changed, the sync brings
    the rest (a new template, a new category). A business account with no catalogue here
    (not one the settings name, or not synced yet, which is due anyway) changes nothing
    and becomes no sync target: it is counted and logged."""
    if not await request_sync(conn, change.waba_id):
        TEMPLATE_STATUS_IGNORED.inc()
        log.warning("template_status_ignored", waba_id=change.waba_id[:32], reason="no catalogue")
        return
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
            .values(status=change.status, updated_at=func.clock_timestamp())
        )


async def request_sync(conn: AsyncConnection, waba_id: str) -> bool:
    """Ask for the catalogue's next sync; False when there is no catalogue of ``waba_id``
    (only a sync of an account the settings name creates one)."""
    k = template_catalogues.c
    found = await conn.execute(
        update(template_catalogues)
        .where(k.waba_id == waba_id)
        .values(sync_requested_at=func.clock_timestamp())
        .returning(k.waba_id)
    )
    return found.first() is not None


async def due(engine: AsyncEngine, wabas: Sequence[str], every_seconds: float) -> list[str]:
    """Of ``wabas`` (those the settings name), the ones to sync now: never synced, synced
    ``every_seconds`` ago or more, or asked for by a webhook since their last sync."""
    c = template_catalogues.c
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    c.waba_id,
                    c.synced_at,
                    c.sync_requested_at,
                    func.extract("epoch", func.now() - c.synced_at).label("age"),
                ).where(c.waba_id.in_(list(wabas)))
            )
        ).all()
    known = {row.waba_id: row for row in rows}
    return [
        waba
        for waba in dict.fromkeys(wabas)
        if (row := known.get(waba)) is None
        or row.synced_at is None
        or row.sync_requested_at is not None
        or float(row.age) >= every_seconds
    ]


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


Key = tuple[str, str, str]


@dataclass
class _Copy:
    """The door's copy: the catalogues as of the database's time ``watermark``."""

    loaded_at: float
    watermark: datetime
    synced: dict[str, datetime] = field(default_factory=dict)
    by_key: dict[Key, Definition] = field(default_factory=dict)
    stamps: dict[Key, datetime] = field(default_factory=dict)
    """Each row's ``updated_at`` as read: a row whose stamp did not move is not read again."""
    sync_stamps: set[datetime] = field(default_factory=set)
    """The ``synced_at`` of the syncs read (recent ones): the stamp of every row they wrote."""
    languages: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def put(self, definition: Definition, stamp: datetime) -> None:
        d = definition
        self.by_key[(d.waba_id, d.name, d.language)] = d
        self.stamps[(d.waba_id, d.name, d.language)] = stamp
        self.languages.setdefault((d.waba_id, d.name), set()).add(d.language)

    def drop(self, key: Key) -> None:
        self.stamps.pop(key, None)
        if self.by_key.pop(key, None) is None:
            return
        languages = self.languages.get(key[:2])
        if languages is not None:
            languages.discard(key[2])
            if not languages:
                del self.languages[key[:2]]

    def answer(self, key: Key) -> Lookup:
        if key[0] not in self.synced:
            return Unavailable()
        found = self.by_key.get(key)
        if found is not None:
            return found
        return Unknown(tuple(sorted(self.languages.get(key[:2], ()))))


async def _snapshot(conn: AsyncConnection) -> tuple[datetime, dict[str, datetime]]:
    """The database's time and every synced catalogue's ``synced_at``."""
    k = template_catalogues.c
    now: datetime = (await conn.execute(select(func.now()))).scalar_one()
    rows = (
        await conn.execute(select(k.waba_id, k.synced_at).where(k.synced_at.is_not(None)))
    ).all()
    return now, {row.waba_id: row.synced_at for row in rows}


async def _rows(conn: AsyncConnection, queries: Sequence[Any]) -> list[Row[Any]]:
    """Every row of ``queries``, streamed in partitions: the event loop serves requests
    between them instead of decoding a whole catalogue at once."""
    found: list[Row[Any]] = []
    for query in queries:
        result = await conn.stream(query)
        async for part in result.partitions(READ_CHUNK):
            found.extend(part)
    return found


class Catalogue:
    """The door's copy of every catalogue: ``await catalogue.lookup(waba, name, language)``."""

    def __init__(
        self,
        engine: AsyncEngine,
        max_age: float = MAX_AGE_SECONDS,
        point_queries_per_second: float = POINT_QUERIES_PER_SECOND,
    ) -> None:
        self._engine = engine
        self._max_age = max_age
        self._copy: _Copy | None = None
        self._first: asyncio.Task[_Copy | None] | None = None
        self._first_failed_at = -float("inf")
        self._refresher: asyncio.Task[None] | None = None
        self._recent: dict[Key, tuple[float, Lookup]] = {}
        self._pending: dict[Key, asyncio.Task[Lookup]] = {}
        self._rate = point_queries_per_second
        self._tokens = point_queries_per_second
        self._tokens_at = time.monotonic()
        self.point_queries = 0
        """Point queries made (for tests and measurements)."""

    async def lookup(self, waba_id: str, name: str, language: str) -> Lookup:
        copy = self._copy or await self._first_copy()
        if copy is None:
            return Unavailable()
        key = (waba_id, name, language)
        answer = copy.answer(key)
        if isinstance(answer, Definition):
            return answer
        now = time.monotonic()
        recent = self._recent.get(key)
        if recent is not None and now - recent[0] < RECHECK_UNKNOWN_SECONDS:
            return recent[1] if recent[0] > copy.loaded_at else answer
        pending = self._pending.get(key)
        if pending is None:
            if not self._take_token(now):
                return answer
            # A task of its own: a request that goes away does not cancel the others' answer.
            pending = asyncio.ensure_future(self._point(key, answer))
            self._pending[key] = pending
            pending.add_done_callback(lambda task: self._pointed(key, task))
        return await asyncio.shield(pending)

    def warm(self) -> None:
        """Start reading the first copy now (at start-up), so that the first request does
        not wait for it."""
        if self._copy is None and self._first is None:
            self._first = asyncio.ensure_future(self._load_first())

    async def stop(self) -> None:
        for task in (self._refresher, self._first, *self._pending.values()):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._refresher = self._first = None

    async def refresh(self) -> None:
        """Bring the copy up to date now (the background loop does every ``max_age``)."""
        copy = self._copy
        if copy is None:
            self._copy = await self._load_all()
            return
        started = time.monotonic()
        async with self._engine.connect() as conn:
            await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                await self._apply_changes(conn, copy, started)

    # -- reading -------------------------------------------------------------------------

    async def _first_copy(self) -> _Copy | None:
        """The first copy, read once for every request waiting for it; a failed read is
        tried again after ``RECHECK_UNKNOWN_SECONDS`` (sends pass unchecked meanwhile)."""
        if self._first is None:
            if time.monotonic() - self._first_failed_at < RECHECK_UNKNOWN_SECONDS:
                return None
            self._first = asyncio.ensure_future(self._load_first())
        task = self._first
        copy = await asyncio.shield(task)
        if self._first is task:
            self._first = None
        return copy

    async def _load_first(self) -> _Copy | None:
        try:
            copy = await self._load_all()
        except Exception as exc:  # the database is away: unchecked until it answers
            log.warning("template_catalogue_not_loaded", error=type(exc).__name__)
            self._first_failed_at = time.monotonic()
            return None
        if self._copy is None:
            self._copy = copy
        if self._refresher is None:
            self._refresher = asyncio.ensure_future(self._keep_fresh())
        return self._copy

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(self._max_age)
            try:
                await self.refresh()
            except Exception as exc:  # the database is away: the copy there is stands
                log.warning("template_catalogue_not_refreshed", error=type(exc).__name__)

    async def _load_all(self) -> _Copy:
        started = time.monotonic()
        async with self._engine.connect() as conn:
            await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                now, synced = await _snapshot(conn)
                rows = await _rows(conn, [select(templates)])
        copy = _Copy(started, now, synced, sync_stamps=set(synced.values()))
        for row in rows:
            copy.put(_definition(row), row.updated_at)
        return copy

    async def _apply_changes(self, conn: AsyncConnection, copy: _Copy, started: float) -> None:
        """Read, in one snapshot, what changed since ``copy`` was read, then apply it all
        at once (no await in between, so no lookup sees half of it).

        Keys and stamps first (small): of the rows stamped since the last read (less
        ``OVERLAP_SECONDS``), and every key of an account whose sync landed since (its
        ``synced_at`` moved; a key gone from it is a template Meta no longer lists). Only
        the rows whose stamp differs from the copy's are then read whole."""
        c = templates.c
        now, synced = await _snapshot(conn)
        since = copy.watermark - timedelta(seconds=OVERLAP_SECONDS)
        # A row stamped by a sync the copy has read (its synced_at; every row it wrote came
        # with it, in one snapshot) needs no look: only other stamps (webhooks) do.
        read = [stamp for stamp in copy.sync_stamps if stamp > since]
        stamped = await _rows(
            conn,
            [
                select(c.waba_id, c.name, c.language, c.updated_at).where(
                    c.updated_at > since, c.updated_at.not_in(read)
                )
            ],
        )
        resynced: dict[str, set[tuple[str, str]]] = {}
        for waba_id, synced_at in synced.items():
            if copy.synced.get(waba_id) == synced_at:
                continue
            keys = await _rows(
                conn,
                [select(c.waba_id, c.name, c.language, c.updated_at).where(c.waba_id == waba_id)],
            )
            resynced[waba_id] = {(row.name, row.language) for row in keys}
            stamped.extend(keys)
        wanted = list(
            dict.fromkeys(
                (row.waba_id, row.name, row.language)
                for row in stamped
                if copy.stamps.get((row.waba_id, row.name, row.language)) != row.updated_at
            )
        )
        rows = await _rows(
            conn,
            [
                select(templates).where(
                    tuple_(c.waba_id, c.name, c.language).in_(wanted[at : at + READ_CHUNK])
                )
                for at in range(0, len(wanted), READ_CHUNK)
            ],
        )
        gone = [w for w in copy.synced if w not in synced]
        self._apply(copy, started, now, synced, rows, resynced, gone)

    @staticmethod
    def _apply(
        copy: _Copy,
        started: float,
        now: datetime,
        synced: dict[str, datetime],
        rows: Iterable[Row[Any]],
        resynced: dict[str, set[tuple[str, str]]],
        gone: Sequence[str],
    ) -> None:
        since = now - timedelta(seconds=2 * OVERLAP_SECONDS)  # what the next read can use
        if resynced or gone:
            for key in [key for key in copy.by_key if key[0] in gone or key[0] in resynced]:
                if key[0] in gone or key[1:] not in resynced[key[0]]:
                    copy.drop(key)
        for row in rows:
            copy.put(_definition(row), row.updated_at)
        copy.synced = synced
        copy.sync_stamps = {stamp for stamp in copy.sync_stamps if stamp > since}
        copy.sync_stamps.update(synced.values())
        copy.watermark = now
        copy.loaded_at = started

    # -- templates the copy does not know -------------------------------------------------

    def _take_token(self, now: float) -> bool:
        self._tokens = min(self._rate, self._tokens + (now - self._tokens_at) * self._rate)
        self._tokens_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _pointed(self, key: Key, task: asyncio.Task[Lookup]) -> None:
        self._pending.pop(key, None)
        if not task.cancelled() and task.exception() is None:
            self._remember(key, time.monotonic(), task.result())

    def _remember(self, key: Key, at: float, found: Lookup) -> None:
        if len(self._recent) >= 10_000:
            self._recent = {
                k: v for k, v in self._recent.items() if at - v[0] < RECHECK_UNKNOWN_SECONDS
            }
        self._recent[key] = (at, found)

    async def _point(self, key: Key, fallback: Lookup) -> Lookup:
        """One statement: the catalogue's state and every language of the name."""
        waba_id, name, language = key
        c, k = templates.c, template_catalogues.c
        query = (
            select(k.synced_at, *(col for col in templates.c if col.name != "updated_at"))
            .select_from(
                template_catalogues.outerjoin(
                    templates, and_(c.waba_id == k.waba_id, c.name == name)
                )
            )
            .where(k.waba_id == waba_id)
        )
        self.point_queries += 1
        try:
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        except Exception as exc:  # the database is away: the copy answers
            log.warning("template_lookup_failed", error=type(exc).__name__)
            return fallback
        if not rows or rows[0].synced_at is None:
            return Unavailable()
        languages = []
        for row in rows:
            if row.language is None:
                continue
            if row.language == language:
                return _definition(row)
            languages.append(row.language)
        return Unknown(tuple(sorted(languages)))
