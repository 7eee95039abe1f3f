"""Retention: notifications and the personal data in their events are deleted after
``NOTIFICATION_RETENTION_DAYS`` (0 keeps everything), while a rebuild still equals the live
read models afterwards.

What goes, per run, with one cutoff (now minus the retention):

- a notification whose last change (``updated_at``) is older than the cutoff, whatever its
  status, unless it is scheduled to be sent after the cutoff: its read-model row, every
  event that named it, the statuses Meta parked under its wamid, its callback rows;
- inbound messages (``message.inbound_received``: the customer's number and text) that
  occurred before the cutoff, and parked statuses older than it whose wamid no notification
  holds (messages sent by someone else on the same number);
- windows whose last inbound message is older than the cutoff. No event left can reopen
  them: every inbound event before the cutoff is gone, so a rebuild agrees.

What stays, and why a rebuild still equals the live tables:

- ``recipient.opted_out``, ``recipient.opted_in`` and ``recipient.number_changed`` events
  are kept forever: they carry only ids, and they are the opt-outs themselves;
- usage is billing history: each purged notification that was counted adds one to
  ``ledger.retired_usage`` in the transaction that deletes it. A rebuild starts from those
  counts, so usage stays exact however much is purged;
- an opt-out from a purged event (a STOP in an inbound message, Meta's 131050 on a failed
  send) and the aliases that make one reach every form of a person live on in
  ``ledger.retired_suppressions`` and ``ledger.retired_aliases``. Before anything is
  deleted, every live row with a time before the cutoff is merged into them with the
  projection's own rules (latest opt-out, latest opt-in, latest pairing win). Every event
  deleted contributed only times before the cutoff, so its part of a row is in the baseline,
  and what later events add merges on top the same way, in a rebuild as it did live. An
  opt-out is never lost to retention.

Runs by the ledger's housekeeping (one replica at a time: a session advisory lock, which a
rebuild or verify also holds, so a purge never runs under a replay) and by ``notifctl
retention purge``. Work is done in short transactions of at most ``BATCH`` rows, each
taking the consumer's shared lock and the same per-wamid locks, so a status arriving for a
notification being purged either lands before it (and goes with it) or after it (and is
parked or starts a row of its own, as a rebuild would).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import tables
from ledger.rebuild import retention_excluded, share_lock
from ledger.store import WAMID_LOCK_SPACE
from notif_core import retention as retention_metric
from notif_core.events import utcnow
from notif_core.logging import get_logger

log = get_logger(__name__)

TABLES = retention_metric.counted(
    *(t.fullname for t in (tables.notifications, tables.events, tables.callbacks, tables.windows))
)
"""What the ledger's purges delete from, each a series of ``notif_retention_purged``."""
BATCH = 1_000
"""Notifications (or events, or windows) looked at per transaction."""
FIRST_RUN_SECONDS = 60
EVERY_SECONDS = 3_600
"""Retention is counted in days: an hourly pass is plenty, and each scans the baseline."""

_RETIRE_SUPPRESSIONS = text(
    """
    INSERT INTO ledger.retired_suppressions AS r
        (phone_number_id, recipient, scope, source, since, lifted_at)
    SELECT phone_number_id, recipient, scope, source, since, lifted_at
    FROM ledger.suppressions WHERE since < :cutoff OR lifted_at < :cutoff
    ON CONFLICT (phone_number_id, recipient, scope) DO UPDATE SET
        since = GREATEST(r.since, EXCLUDED.since),
        lifted_at = GREATEST(r.lifted_at, EXCLUDED.lifted_at),
        source = CASE WHEN r.since IS NULL OR EXCLUDED.since >= r.since
                      THEN EXCLUDED.source ELSE r.source END
    WHERE (r.since, r.lifted_at, r.source)
          IS DISTINCT FROM (EXCLUDED.since, EXCLUDED.lifted_at, EXCLUDED.source)
    """
)
_RETIRE_ALIASES = text(
    """
    INSERT INTO ledger.retired_aliases AS r (alias, key, source, seen_at)
    SELECT alias, key, source, seen_at FROM ledger.recipient_aliases WHERE seen_at < :cutoff
    ON CONFLICT (alias) DO UPDATE SET
        key = CASE WHEN EXCLUDED.seen_at >= r.seen_at THEN EXCLUDED.key ELSE r.key END,
        source = CASE WHEN EXCLUDED.seen_at >= r.seen_at THEN EXCLUDED.source ELSE r.source END,
        seen_at = GREATEST(r.seen_at, EXCLUDED.seen_at)
    WHERE (r.key, r.source, r.seen_at)
          IS DISTINCT FROM (EXCLUDED.key, EXCLUDED.source, EXCLUDED.seen_at)
    """
)
_NOTIFICATION_WINDOW = text(
    """
    SELECT n.id, n.wamid, n.created_at,
           n.updated_at < :cutoff AND NOT EXISTS (
               SELECT 1 FROM ledger.events e
               WHERE e.notification_id = n.id AND e.type = 'notification.scheduled'
                 AND CAST(e.body->'payload'->>'send_at' AS timestamptz) >= :cutoff
           ) AS finished
    FROM ledger.notifications n
    WHERE n.id > :after
    ORDER BY n.id
    LIMIT :batch
    """
)
"""A window of notifications in id (UUIDv7, so creation) order, each marked finished when
its last change and any scheduled send time are before the cutoff."""
_MAY_DELETE_EVENTS = text("SELECT set_config('ledger.retention_purge', 'on', true)")
"""The event store refuses deletes (migration 0009) except in a transaction that says this."""
_LOCK_WAMIDS = text(
    "SELECT pg_advisory_xact_lock(:space, hashtext(w)) "
    "FROM unnest(CAST(:wamids AS text[])) AS w ORDER BY w"
)
_LOCK_ROWS = text(
    "SELECT id FROM ledger.notifications WHERE id = ANY(:ids) AND updated_at < :cutoff "
    "ORDER BY id FOR UPDATE"
)
_DELETE_NOTIFICATIONS = text(
    """
    DELETE FROM ledger.notifications WHERE id = ANY(:ids)
    RETURNING id, wamid, tenant_id, billed_at, pricing_category, billable, recipient_country,
              usage_counted
    """
)
_RETIRE_USAGE = text(
    """
    INSERT INTO ledger.retired_usage AS r (tenant_id, day, category, billable, country, messages)
    VALUES (:tenant_id, :day, :category, :billable, :country, :messages)
    ON CONFLICT (tenant_id, day, category, billable, country)
    DO UPDATE SET messages = r.messages + EXCLUDED.messages
    """
)
_DELETE_NOTIFICATION_EVENTS = text(
    "DELETE FROM ledger.events WHERE notification_id = ANY(:ids) "
    "OR (notification_id IS NULL AND wamid = ANY(:wamids))"
)
_DELETE_CALLBACKS = text("DELETE FROM ledger.callbacks WHERE notification_id = ANY(:ids)")
_EVENT_WINDOW = text(
    """
    WITH window_ AS (
        SELECT seq, recorded_at FROM ledger.events WHERE seq > :after ORDER BY seq LIMIT :batch
    ), gone AS (
        DELETE FROM ledger.events e USING window_ w
        WHERE e.seq = w.seq AND e.occurred_at < :cutoff
          AND (e.type = 'message.inbound_received'
               OR (e.notification_id IS NULL AND e.wamid IS NOT NULL
                   AND NOT EXISTS (
                       SELECT 1 FROM ledger.notifications n WHERE n.wamid = e.wamid)))
        RETURNING e.seq
    )
    SELECT (SELECT count(*) FROM gone), (SELECT max(seq) FROM window_),
           (SELECT max(recorded_at) FROM window_)
    """
)
"""Inbound messages and orphaned parked statuses before the cutoff; the walk stops at the
first window holding an event recorded after it, like ``ingest.relay.retention``."""
_DELETE_WINDOWS = text(
    """
    DELETE FROM ledger.windows WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM ledger.windows WHERE last_inbound_at < :cutoff LIMIT :batch))
    """
)


def cutoff_for(days: float, now: datetime | None = None) -> datetime | None:
    """The instant before which data goes; None when retention is off (0 days)."""
    if days <= 0:
        return None
    return (now or utcnow()) - timedelta(days=days)


async def purge(engine: AsyncEngine, days: float) -> dict[str, int] | None:
    """One pass; returns rows deleted per table, or None when another purge, a rebuild or
    a verify holds the lock (the pass is skipped) or retention is off."""
    cutoff = cutoff_for(days)
    if cutoff is None:
        return None
    async with retention_excluded(engine, wait=False) as taken:
        if not taken:
            log.info("retention_skipped", reason="locked")
            return None
        counts: Counter[str] = Counter()
        async with engine.begin() as conn:
            await conn.execute(_RETIRE_SUPPRESSIONS, {"cutoff": cutoff})
            await conn.execute(_RETIRE_ALIASES, {"cutoff": cutoff})
        await _purge_notifications(engine, cutoff, counts)
        await _purge_events(engine, cutoff, counts)
        await _purge_windows(engine, cutoff, counts)
    for table, count in counts.items():
        retention_metric.record(table, count)
    log.info("retention_purged", cutoff=cutoff.isoformat(), **dict(counts))
    return dict(counts)


async def _purge_notifications(engine: AsyncEngine, cutoff: datetime, counts: Counter[str]) -> None:
    """Oldest first, stopping at the first window holding a notification created after the
    cutoff: it cannot have finished before it, and every later one is younger still."""
    after = UUID(int=0)
    while True:
        async with engine.begin() as conn:
            await share_lock(conn)
            params = {"after": after, "cutoff": cutoff, "batch": BATCH}
            rows = (await conn.execute(_NOTIFICATION_WINDOW, params)).all()
            finished = [r for r in rows if r.finished]
            if finished:
                await _delete_notifications(conn, finished, cutoff, counts)
        if len(rows) < BATCH or max(r.created_at for r in rows) >= cutoff:
            return
        after = rows[-1].id


async def _delete_notifications(
    conn: AsyncConnection, finished: list[Any], cutoff: datetime, counts: Counter[str]
) -> None:
    """Delete finished notifications with their events and callbacks, counting their usage
    into the baseline, in the caller's transaction."""
    await conn.execute(_MAY_DELETE_EVENTS)
    wamids = sorted({r.wamid for r in finished if r.wamid})
    if wamids:
        await conn.execute(_LOCK_WAMIDS, {"space": WAMID_LOCK_SPACE, "wamids": wamids})
    ids = [r.id for r in finished]
    locked = [
        r.id for r in await conn.execute(_LOCK_ROWS, {"ids": ids, "cutoff": cutoff})
    ]  # a status that landed meanwhile made the row young again
    if not locked:
        return
    gone = (await conn.execute(_DELETE_NOTIFICATIONS, {"ids": locked})).all()
    usage: Counter[tuple[Any, ...]] = Counter(
        (r.tenant_id, r.billed_at.date(), r.pricing_category, bool(r.billable), r.recipient_country)
        for r in gone
        if r.usage_counted
    )
    if usage:
        await conn.execute(
            _RETIRE_USAGE,
            [
                {
                    "tenant_id": tenant,
                    "day": day,
                    "category": category,
                    "billable": billable,
                    "country": country or "ZZ",
                    "messages": n,
                }
                for (tenant, day, category, billable, country), n in sorted(
                    usage.items(), key=lambda kv: str(kv[0])
                )
            ],
        )
    gone_wamids = [r.wamid for r in gone if r.wamid]
    events = await conn.execute(_DELETE_NOTIFICATION_EVENTS, {"ids": locked, "wamids": gone_wamids})
    callbacks = await conn.execute(_DELETE_CALLBACKS, {"ids": locked})
    counts["ledger.notifications"] += len(gone)
    counts["ledger.events"] += events.rowcount
    counts["ledger.callbacks"] += callbacks.rowcount


async def _purge_events(engine: AsyncEngine, cutoff: datetime, counts: Counter[str]) -> None:
    after = 0
    while True:
        async with engine.begin() as conn:
            await share_lock(conn)
            await conn.execute(_MAY_DELETE_EVENTS)
            deleted, last, newest = (
                await conn.execute(
                    _EVENT_WINDOW, {"after": after, "batch": BATCH, "cutoff": cutoff}
                )
            ).one()
        counts["ledger.events"] += int(deleted)
        if last is None or newest >= cutoff:
            return
        after = last


async def _purge_windows(engine: AsyncEngine, cutoff: datetime, counts: Counter[str]) -> None:
    while True:
        async with engine.begin() as conn:
            await share_lock(conn)
            deleted = (
                await conn.execute(_DELETE_WINDOWS, {"cutoff": cutoff, "batch": BATCH})
            ).rowcount
        counts["ledger.windows"] += deleted
        if deleted < BATCH:
            return


async def housekeeping(engine: AsyncEngine, days: float) -> None:
    """The ledger process's periodic purge: first a minute after start, then hourly. A
    failed pass is logged and retried at the next one."""
    await asyncio.sleep(FIRST_RUN_SECONDS)
    while True:
        try:
            await purge(engine, days)
        except Exception as exc:  # the database away: the next pass catches up
            log.warning("retention_failed", error=type(exc).__name__)
        await asyncio.sleep(EVERY_SECONDS)
