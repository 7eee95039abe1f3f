"""Marks of inbound messages, written with the webhook that carries them.

The ledger projects an inbound message a few hundred milliseconds after Meta's webhook is
acknowledged (outbox relay, events queue, batch). A business answering at once would find
no window there, and a STOP just acknowledged would not suppress yet. So the webhook's own
transaction also upserts ``ingest.inbound_marks``: per business number and recipient
identity (``notif_core.identity.recipient_key`` of ``from``, and of the user id a username
user comes with), the newest inbound's timestamp as Meta gave it (the value the ledger
projects) and when we acknowledged it. Others read it through ``ingest.inbound_mark_v1``.

A number's mark also remembers the business-scoped user id (BSUID) its messages came with.
A later message carrying only that BSUID (a user who adopted a username may stop sharing
the number) moves the number's mark too: a STOP sent that way must hold sends to the number
from the moment it is acknowledged, not from when the ledger projects it.

A mark's timestamp is Meta's, in whole seconds: a "hi" and a "STOP" of the same second give
the same mark, and the ledger's window after only the "hi" would match it. So the same
transaction also records each inbound message's event under every identity it speaks for
(``ingest.inbound_messages``, read through ``ingest.inbound_messages_v1``): the dispatcher
asks the ledger whether it has stored each one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Table, case, delete, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest.tables import inbound_marks, inbound_messages
from notif_core.events import Event, MessageInboundReceived, utcnow
from notif_core.identity import is_bsuid, recipient_key

RETENTION = timedelta(hours=25)
"""A mark older than the 24h window (plus margin) can no longer open one."""
PURGE_BATCH = 5_000
IDENTITY_FIELDS = ("from", "user_id", "from_user_id")
"""Where a message names its sender: the WhatsApp id, and the business-scoped user id under
the names reported for it."""


@dataclass(frozen=True)
class Mark:
    phone_number_id: str
    recipient_key: str
    last_inbound_at: datetime
    user_id: str | None = None
    """For a number's mark: the BSUID the message came with."""
    departed: bool = False
    """The person left this number (``user_changed_number``): its mark goes, so that sends
    to the old number do not wait for a projection that moved the window elsewhere."""


@dataclass(frozen=True)
class Acknowledged:
    """An inbound message's event, under one identity the message names."""

    phone_number_id: str
    recipient_key: str
    event_id: UUID


def acknowledged(events: Iterable[Event]) -> list[Acknowledged]:
    """Each inbound message among ``events``, under its WhatsApp id's key and its BSUID's."""
    found: dict[tuple[str, str, UUID], None] = {}
    for event in events:
        if not isinstance(event, MessageInboundReceived):
            continue
        p = event.payload
        for who in (p.from_, p.user_id):
            if who:
                found[(p.phone_number_id, recipient_key(who), event.event_id)] = None
    return [Acknowledged(*row) for row in sorted(found, key=lambda r: (r[0], r[1], str(r[2])))]


async def record(conn: AsyncConnection, acks: list[Acknowledged]) -> None:
    """Record each acknowledged message (a redelivery changes nothing); a BSUID's also under
    the numbers that BSUID came with, as :func:`upsert` moves their marks. Run after
    :func:`upsert`, so a pairing in the same body is known."""
    if not acks:
        return
    await conn.execute(
        insert(inbound_messages).on_conflict_do_nothing(),
        [
            {
                "phone_number_id": a.phone_number_id,
                "recipient_key": a.recipient_key,
                "event_id": a.event_id,
            }
            for a in acks
        ],
    )
    c = inbound_marks.c
    for a in (a for a in acks if is_bsuid(a.recipient_key)):
        paired = select(c.phone_number_id, c.recipient_key, literal(a.event_id)).where(
            c.phone_number_id == a.phone_number_id, c.user_id == a.recipient_key
        )
        await conn.execute(
            insert(inbound_messages)
            .from_select(["phone_number_id", "recipient_key", "event_id"], paired)
            .on_conflict_do_nothing()
        )


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _timestamp(value: Any) -> datetime:
    """Meta's epoch seconds, as the ledger will project them (now when absent)."""
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return utcnow()


def _marks(payload: Any) -> Iterator[Mark]:
    if not isinstance(payload, dict):
        return
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            metadata = value.get("metadata")
            sender = str(metadata.get("phone_number_id", "")) if isinstance(metadata, dict) else ""
            if not sender:
                continue
            for message in _dicts(value.get("messages")):
                if not message.get("id"):
                    continue
                at = _timestamp(message.get("timestamp"))
                if message.get("type") == "system":  # not the customer writing: no window
                    system = message.get("system")
                    old = message.get("from")
                    changed = isinstance(system, dict) and (
                        system.get("type") == "user_changed_number"
                    )
                    if changed and isinstance(old, str | int) and str(old).strip():
                        yield Mark(sender, recipient_key(str(old)), at, departed=True)
                    continue
                keys = [
                    recipient_key(str(who))
                    for who in (message.get(field) for field in IDENTITY_FIELDS)
                    if isinstance(who, str | int) and str(who).strip()
                ]
                bsuid = next((k for k in keys if is_bsuid(k)), None)
                for key in dict.fromkeys(k for k in keys if k != "+"):
                    yield Mark(sender, key, at, user_id=None if key == bsuid else bsuid)


def from_payload(payload: Any) -> list[Mark]:
    """One mark per (number, identity) in a webhook body, the newest message's time, in key
    order so that concurrent webhooks lock rows in the same order."""
    newest: dict[tuple[str, str], Mark] = {}
    departed: dict[tuple[str, str], datetime] = {}
    for mark in _marks(payload):
        key = (mark.phone_number_id, mark.recipient_key)
        if mark.departed:
            departed[key] = max(mark.last_inbound_at, departed.get(key, mark.last_inbound_at))
            continue
        seen = newest.get(key)
        if seen is None or mark.last_inbound_at >= seen.last_inbound_at:
            mark = replace(mark, user_id=mark.user_id or (seen.user_id if seen else None))
            newest[key] = mark
    marks = [m for k, m in sorted(newest.items()) if k not in departed]
    return marks + [Mark(s, r, at, departed=True) for (s, r), at in sorted(departed.items())]


async def upsert(conn: AsyncConnection, marks: list[Mark]) -> None:
    """Move each mark forward (``marked_at`` says when it last moved); drop departed ones.
    A BSUID's mark also moves the marks of the numbers that BSUID came with before."""
    for gone in (m for m in marks if m.departed):
        await conn.execute(
            delete(inbound_marks).where(
                inbound_marks.c.phone_number_id == gone.phone_number_id,
                inbound_marks.c.recipient_key == gone.recipient_key,
            )
        )
    marks = [m for m in marks if not m.departed]
    if not marks:
        return
    stmt = insert(inbound_marks)
    newer = stmt.excluded.last_inbound_at > inbound_marks.c.last_inbound_at
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["phone_number_id", "recipient_key"],
            set_={
                "last_inbound_at": func.greatest(
                    inbound_marks.c.last_inbound_at, stmt.excluded.last_inbound_at
                ),
                "marked_at": case((newer, func.now()), else_=inbound_marks.c.marked_at),
                "user_id": func.coalesce(stmt.excluded.user_id, inbound_marks.c.user_id),
            },
        ),
        [
            {
                "phone_number_id": m.phone_number_id,
                "recipient_key": m.recipient_key,
                "last_inbound_at": m.last_inbound_at,
                "user_id": m.user_id,
            }
            for m in marks
        ],
    )
    for mark in (m for m in marks if is_bsuid(m.recipient_key)):
        paired = inbound_marks.c.user_id == mark.recipient_key
        await conn.execute(
            update(inbound_marks)
            .where(
                inbound_marks.c.phone_number_id == mark.phone_number_id,
                paired,
                inbound_marks.c.last_inbound_at < mark.last_inbound_at,
            )
            .values(last_inbound_at=mark.last_inbound_at, marked_at=func.now())
        )


async def purge(engine: AsyncEngine, retention: timedelta = RETENTION) -> int:
    """Delete marks that moved last, and messages recorded, more than ``retention`` ago, in
    short batches. Returns the rows deleted."""
    cutoff = utcnow() - retention
    return await _purge(engine, inbound_marks, cutoff) + await _purge(
        engine, inbound_messages, cutoff
    )


async def _purge(engine: AsyncEngine, table: Table, cutoff: datetime) -> int:
    key = list(table.primary_key.columns)
    total = 0
    while True:
        batch = select(*key).where(table.c.marked_at < cutoff).limit(PURGE_BATCH)
        stmt = delete(table).where(
            tuple_(*key).in_(batch),
            table.c.marked_at < cutoff,  # not one that moved since the batch was read
        )
        async with engine.begin() as conn:
            deleted = (await conn.execute(stmt)).rowcount
        total += deleted
        if deleted < PURGE_BATCH:
            return total
