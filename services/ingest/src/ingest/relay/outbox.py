"""Transactional outbox: rows written with the notification, published by the relay.

Every writer adds its events to ``ingest.outbox`` in its own transaction and signals
``NOTIFY ingest_outbox``, which PostgreSQL delivers only at commit. The relay process
(``notif-relay``, :mod:`ingest.relay.process`) listens, claims due rows with ``FOR UPDATE SKIP
LOCKED``, publishes them ten per SQS call and marks them in the same transaction, so relay
replicas never publish a row twice except across a crash between the SQS call and the
commit; consumers are idempotent on ``event_id``, so that costs a duplicate message, never a
duplicate send. The API process never talks to SQS: an SQS outage delays publishing, never
an answer, and the API's CPU goes to requests.

A scheduled notification's dispatch row becomes available 15 minutes before ``deliver_at``
and travels with an SQS delay for the rest, so even a long-scheduled message arrives on time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

from pydantic_core import from_json
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest.tables import outbox
from notif_core import quarantine
from notif_core.db import Rows, execute_at_once
from notif_core.events import (
    Event,
    dump_event,
    utcnow,
)
from notif_core.logging import get_logger
from notif_core.quarantine import Reason
from notif_core.sqs import Outgoing, Publisher, QueueDirectory, QueueKey
from notif_core.sqs.limits import MAX_DELAY_SECONDS
from notif_core.sqs.publisher import Refusal

EPHEMERAL: Final = frozenset({"recipient.erasure_requested"})
"""Event types whose row is deleted once published, not kept for inspection: an erasure
request holds the number of the person to forget."""
log = get_logger(__name__)
CHANNEL = "ingest_outbox"
RELAY_BATCH = 500
"""Rows one relay transaction claims: fifty SQS calls or more (ten messages and 256 KiB
each), a queue's calls one after another, the queues concurrently."""
SQS_DELAY = timedelta(seconds=MAX_DELAY_SECONDS)
_NOTIFY = f"SELECT pg_notify('{CHANNEL}', '')"
_OUTBOX_COLUMNS = ("queue", "event_id", "body", "deliver_at", "available_at")


@dataclass(frozen=True)
class Pending:
    """An outbox entry to write."""

    queue: QueueKey
    event: Event
    deliver_at: datetime | None = None
    body: str | None = None
    """The event already serialised (``dump_event``), when the writer has it."""

    def available_at(self, now: datetime) -> datetime:
        if self.deliver_at is None:
            return now
        return max(now, self.deliver_at - SQS_DELAY)


@dataclass(frozen=True)
class Claimed:
    """A due row, claimed by one relay transaction: its event goes out as stored."""

    id: int
    queue: QueueKey
    message: Outgoing
    deliver_at: datetime | None
    notification_id: UUID | None = None
    tenant_id: UUID | None = None

    @classmethod
    def of(cls, row_id: int, queue: QueueKey, body: str, deliver_at: datetime | None) -> Claimed:
        """Raises ValueError when the stored body is not an event's JSON.

        The body is read by pydantic's parser, the same family as the serializer that wrote
        it (``dump_event``): a stricter parser here once refused what ingest had written (a
        400-digit integer) and stopped the relay for every row behind it."""
        fields = from_json(body)
        if not isinstance(fields, dict) or not isinstance(fields.get("type"), str):
            raise ValueError("the stored body is not an event")
        message = Outgoing(str(fields["event_id"]), fields["type"], body, fields.get("traceparent"))
        return cls(
            row_id,
            queue,
            message,
            deliver_at,
            quarantine.uuid_or_none(fields.get("notification_id")),
            quarantine.uuid_or_none(fields.get("tenant_id")),
        )


@dataclass(frozen=True)
class SetAside:
    """A row the relay will never publish, and why (a :data:`quarantine.Reason`)."""

    id: int
    reason: Reason
    notification_id: UUID | None = None
    tenant_id: UUID | None = None
    type: str | None = None
    """The event's type: only a notification's own command ends it ``failed`` when set
    aside; a status of it that cannot travel (an absurd wamid) is only kept."""


async def add_many(conn: AsyncConnection, pending: Sequence[Pending]) -> None:
    """Insert entries inside the caller's transaction and wake the relay at its commit."""
    if pending:
        await execute_at_once(conn, statements(pending))


def statements(pending: Sequence[Pending]) -> list[Rows | str]:
    """The INSERT of the entries and the NOTIFY, for :func:`execute_at_once`."""
    if not pending:
        return []
    now = utcnow()
    bodies: dict[int, str] = {}  # an event on two queues is serialised once
    rows = []
    for p in pending:
        body = p.body or bodies.get(id(p.event))
        if body is None:
            body = bodies[id(p.event)] = dump_event(p.event)
        rows.append((p.queue, p.event.event_id, body, p.deliver_at, p.available_at(now)))
    return [Rows(outbox, _OUTBOX_COLUMNS, rows), _NOTIFY]


async def add(
    conn: AsyncConnection, queue: QueueKey, event: Event, deliver_at: datetime | None = None
) -> None:
    await add_many(conn, [Pending(queue, event, deliver_at)])


def delay_for(deliver_at: datetime | None) -> int:
    """SQS delay that makes a message visible at ``deliver_at`` (0 to 15 minutes)."""
    if deliver_at is None:
        return 0
    return max(0, min(MAX_DELAY_SECONDS, round((deliver_at - utcnow()).total_seconds())))


async def send_rows(
    publisher: Publisher, queues: QueueDirectory, rows: Sequence[Claimed]
) -> tuple[list[int], list[SetAside]]:
    """Publish rows grouped by queue and delay, the groups concurrently; returns the ids
    published and the rows SQS refused for good. A row refused for a passing reason, or a
    group whose call failed (SQS unreachable), is in neither: it stays due."""
    groups: dict[tuple[QueueKey, int], list[Claimed]] = {}
    for row in rows:
        groups.setdefault((row.queue, delay_for(row.deliver_at)), []).append(row)

    async def send(queue: QueueKey, delay: int, queued: list[Claimed]) -> list[Refusal | None]:
        url = await queues.url(queue)
        return await publisher.send_each(url, [r.message for r in queued], delay_seconds=delay)

    keys = list(groups)
    answers = await asyncio.gather(
        *(send(queue, delay, groups[queue, delay]) for queue, delay in keys),
        return_exceptions=True,
    )
    published: list[int] = []
    refused: list[SetAside] = []
    for key, answer in zip(keys, answers, strict=True):
        if isinstance(answer, BaseException):
            log.warning("relay_publish_failed", queue=key[0], error=type(answer).__name__)
            continue
        for row, refusal in zip(groups[key], answer, strict=True):
            if refusal is None:
                published.append(row.id)
            elif refusal.permanent:
                reason: Reason = "too_large" if "Long" in refusal.code else "unsendable"
                refused.append(
                    SetAside(row.id, reason, row.notification_id, row.tenant_id, row.message.type)
                )
    if len(published) < len(rows) and not published and not refused:
        raise RelayStalled(len(rows))
    return published, refused


class RelayStalled(RuntimeError):
    """Nothing of a claimed pass went out (SQS unreachable or refusing everything now)."""

    def __init__(self, rows: int) -> None:
        super().__init__(f"none of {rows} due rows could be published")


class OutboxRelay:
    """Publishes due rows: new ones as their writers commit, scheduled ones when due.

    A row that can never be published is set aside (``quarantined_at`` and its reason) in
    the same transaction, and its notification gets a ``failed`` event through the outbox:
    nothing behind it waits, and nothing is left ``accepted`` for ever.
    """

    def __init__(self, engine: AsyncEngine, publisher: Publisher, queues: QueueDirectory) -> None:
        self._engine = engine
        self._publisher = publisher
        self._queues = queues

    async def relay_once(self, limit: int = RELAY_BATCH) -> int:
        """Publish up to ``limit`` due rows, oldest first; returns how many were handled
        (published or set aside). Rows SQS could not take now stay due for the next pass;
        raises :class:`RelayStalled` when none could be."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                select(outbox.c.id, outbox.c.queue, outbox.c.body, outbox.c.deliver_at)
                .where(
                    outbox.c.published_at.is_(None),
                    outbox.c.quarantined_at.is_(None),
                    outbox.c.available_at <= func.now(),
                )
                .order_by(outbox.c.available_at, outbox.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows: list[Claimed] = []
            set_aside: list[SetAside] = []
            for r in result:
                try:
                    rows.append(Claimed.of(r.id, r.queue, r.body, r.deliver_at))
                except ValueError:
                    ids = quarantine.lenient_ids(r.body)
                    set_aside.append(
                        SetAside(r.id, "unparseable", ids.notification_id, ids.tenant_id, ids.type)
                    )
            if not rows and not set_aside:
                return 0
            published, refused = await send_rows(self._publisher, self._queues, rows)
            set_aside += refused
            if published:
                await conn.execute(
                    update(outbox).where(outbox.c.id.in_(published)).values(published_at=func.now())
                )
                ephemeral = [
                    r.id for r in rows if r.id in published and r.message.type in EPHEMERAL
                ]
                if ephemeral:
                    await conn.execute(delete(outbox).where(outbox.c.id.in_(ephemeral)))
            await self._set_aside(conn, set_aside)
        return len(published) + len(set_aside)

    async def _set_aside(self, conn: AsyncConnection, rows: list[SetAside]) -> None:
        for row in rows:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == row.id)
                .values(quarantined_at=func.now(), quarantine_reason=row.reason)
            )
            quarantine.record("relay", row.reason)
            log.error("quarantined", stage="relay", outbox_id=row.id, reason=row.reason)
        failed = {
            r.notification_id: r
            for r in rows
            if r.notification_id is not None and r.type == "notification.accepted"
        }
        events = [
            quarantine.failed_event(nid, r.tenant_id, r.reason, "relay")
            for nid, r in failed.items()
        ]
        await add_many(conn, [Pending("events", event) for event in events])
