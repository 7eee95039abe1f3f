"""Appending events (idempotent on ``event_id``) and projecting them onto the read models.

One call handles one consumer batch in one transaction, in a fixed number of statements
whatever the batch size: every new event is stored and projected, every duplicate skipped,
so replaying a batch changes nothing.

A status Meta reports for a wamid we have not linked to a notification yet (its ``sent`` is
still on the way) is *parked*: stored with no notification, and folded in the moment a later
event links that wamid, so nothing is lost and the outcome does not depend on arrival order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from sqlalchemy import Table, case, delete, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import erasure, sealing
from ledger.callbacks import callback_row, inbound_callback_row
from ledger.optouts import DEFAULT_KEYWORDS, Keywords
from ledger.projection import (
    Alias,
    Folded,
    Notification,
    OptOut,
    StatusChange,
    UsageKey,
    country_of,
    default_sender,
    event_wamid,
    fold,
)
from ledger.tables import LIVE, ReadModel, callbacks, events
from notif_core.erasure import deployment_pseudonym, is_erased
from notif_core.events import (
    Event,
    MessageInboundReceived,
    NotificationAccepted,
    RecipientErased,
    RecipientErasureRequested,
    RecipientNumberChanged,
    RecipientOptedIn,
    RecipientOptedOut,
)
from notif_core.identity import recipient_key
from notif_core.logging import get_logger
from notif_core.vocabulary import SCOPES, NotificationStatus, Scope

log = get_logger(__name__)

WAMID_LOCK_SPACE = 7302
"""First key of ``pg_advisory_xact_lock(int, int)`` for per-wamid locks: batches that
mention the same wamid on different ledger replicas take turns, so a status parked by one
is always seen by the other when it links the wamid."""

Stored = tuple[int, Event]
"""An event with its ``seq`` in the event store."""


@dataclass(frozen=True)
class Appended:
    """What a batch added: the new events, and each status a notification reached."""

    events: list[Event]
    statuses: list[NotificationStatus]

    @property
    def new(self) -> int:
        return len(self.events)


async def append(
    conn: AsyncConnection,
    batch: Sequence[Event],
    keywords: Keywords = DEFAULT_KEYWORDS,
    rm: ReadModel = LIVE,
) -> Appended:
    """Store and project every event not seen before."""
    seen: set[UUID] = set()
    unique = []
    for e in batch:
        if e.event_id not in seen:
            seen.add(e.event_id)
            unique.append(e)
    requests = [e for e in unique if isinstance(e, RecipientErasureRequested)]
    unique = [e for e in unique if not isinstance(e, RecipientErasureRequested)]
    if requests and rm is LIVE:  # a rebuild never meets one: they are not stored
        erased = [await erasure.erase(conn, r) for r in requests]
        unique += [e for e in erased if e is not None]
    if not unique:
        return Appended([], [])
    wamids = sorted({w for e in unique if (w := event_wamid(e))})
    if wamids:
        await conn.execute(
            text(
                "SELECT pg_advisory_xact_lock(:space, hashtext(w)) "
                "FROM unnest(CAST(:wamids AS text[])) AS w ORDER BY w"
            ),
            {"space": WAMID_LOCK_SPACE, "wamids": wamids},
        )
    countries = {
        i: country_of(e.payload.to)
        for i, e in enumerate(unique)
        if isinstance(e, NotificationAccepted)
    }
    bodies = await sealing.sealed_bodies(conn, unique, countries)
    inserted = await conn.execute(
        insert(events)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(events.c.event_id, events.c.seq),
        [
            {
                "event_id": e.event_id,
                "type": e.type,
                "notification_id": e.notification_id,
                "tenant_id": e.tenant_id,
                "occurred_at": e.occurred_at,
                "body": body,
                "wamid": event_wamid(e),
            }
            for e, body in zip(unique, bodies, strict=True)
        ],
    )
    seq_of = {row.event_id: row.seq for row in inserted}
    new = sorted(((seq_of[e.event_id], e) for e in unique if e.event_id in seq_of), key=_seq)
    reached = await project(conn, new, keywords, rm, emit_callbacks=rm is LIVE)
    return Appended([e for _, e in new], reached)


def _seq(item: Stored) -> int:
    return item[0]


@dataclass
class _Batch:
    """The rows one batch touches, loaded once, folded in memory, written once."""

    rm: ReadModel
    states: dict[UUID, Notification]
    owner: dict[str, UUID]
    """wamid → notification, for every wamid the batch mentions that is linked."""
    parked: dict[str, list[Stored]]
    """Unlinked events per wamid that this batch may link."""
    dirty: set[UUID] = field(default_factory=set)
    changes: list[tuple[StatusChange, Notification]] = field(default_factory=list)
    reached: list[NotificationStatus] = field(default_factory=list)
    """Every status a notification moved into (its first one included)."""
    usage: Counter[UsageKey] = field(default_factory=Counter)
    opt_outs: list[OptOut] = field(default_factory=list)
    aliases: list[Alias] = field(default_factory=list)
    inbound: list[MessageInboundReceived] = field(default_factory=list)
    """Inbound messages whose owner receives them by callback."""

    def apply(self, seq: int, event: Event, notification_id: UUID) -> None:
        before = self.states.get(notification_id)
        previous = before.status if before is not None else None
        result: Folded = fold(before, notification_id, event)
        state = self.states[notification_id] = result.state
        if state.status != previous:
            self.reached.append(state.status)
        self.dirty.add(notification_id)
        if result.change is not None:
            self.changes.append((result.change, state))
        if result.usage is not None:
            self.usage[result.usage] += 1
        self.opt_outs.extend(result.opt_outs)
        if result.alias is not None:
            self.aliases.append(result.alias)
        wamid = result.new_wamid
        if wamid is None:
            return
        if self.owner.setdefault(wamid, notification_id) != notification_id:
            log.error("wamid_claimed_twice", wamid=wamid, notification_id=str(notification_id))
            state.wamid = None
            return
        for parked_seq, parked in self.parked.pop(wamid, []):
            if parked_seq < seq:  # later ones find the owner by themselves
                self.apply(parked_seq, parked, notification_id)


async def project(
    conn: AsyncConnection,
    items: Sequence[Stored],
    keywords: Keywords,
    rm: ReadModel,
    *,
    emit_callbacks: bool = False,
) -> list[NotificationStatus]:
    """Fold stored events (in ``seq`` order) into the read models: the one code path of
    both the live consumer and a rebuild. Returns the statuses notifications reached."""
    if not items:
        return []
    batch = await _load(conn, items, rm)
    for seq, event in items:
        notification_id = event.notification_id
        if notification_id is None and (wamid := event_wamid(event)) is not None:
            notification_id = batch.owner.get(wamid)
            if notification_id is None:
                continue  # parked
        if notification_id is not None:
            batch.apply(seq, event, notification_id)
        await project_recipient(conn, event, keywords, rm)
        if isinstance(event, MessageInboundReceived) and event.payload.callback_url:
            batch.inbound.append(event)
    await _write(conn, batch, emit_callbacks)
    return batch.reached


async def _load(conn: AsyncConnection, items: Sequence[Stored], rm: ReadModel) -> _Batch:
    n = rm.notifications
    wamids = {w for _, e in items if (w := event_wamid(e))}
    owner: dict[str, UUID] = {}
    if wamids:
        rows = await conn.execute(select(n.c.wamid, n.c.id).where(n.c.wamid.in_(wamids)))
        owner = {r.wamid: r.id for r in rows}
    ids = {e.notification_id for _, e in items if e.notification_id} | set(owner.values())
    states: dict[UUID, Notification] = {}
    if ids:
        rows = await conn.execute(
            select(n).where(n.c.id.in_(ids)).order_by(n.c.id).with_for_update()
        )
        states = {r.id: Notification.from_row(r._mapping) for r in rows}
    linkable = {
        w
        for _, e in items
        if e.notification_id is not None and (w := event_wamid(e)) and w not in owner
    }
    parked: dict[str, list[Stored]] = {}
    if linkable:
        rows = await conn.execute(
            select(events.c.seq, events.c.wamid, events.c.body)
            .where(events.c.notification_id.is_(None), events.c.wamid.in_(linkable))
            .order_by(events.c.seq)
        )
        found = list(rows)
        for r, event in zip(
            found, await sealing.opened(conn, [r.body for r in found]), strict=True
        ):
            parked.setdefault(r.wamid, []).append((r.seq, event))
    return _Batch(rm, states, owner, parked)


async def _write(conn: AsyncConnection, batch: _Batch, emit_callbacks: bool) -> None:
    rm = batch.rm
    if batch.dirty:
        await _upsert_rows(conn, rm.notifications, [batch.states[i] for i in sorted(batch.dirty)])
    if batch.usage:
        stmt = insert(rm.usage)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id", "day", "category", "billable", "country"],
                set_={"messages": rm.usage.c.messages + stmt.excluded.messages},
            ),
            [
                {
                    "tenant_id": k.tenant_id,
                    "day": k.day,
                    "category": k.category,
                    "billable": k.billable,
                    "country": k.country,
                    "messages": count,
                }
                for k, count in sorted(batch.usage.items(), key=lambda kv: str(kv[0]))
            ],
        )
    for o in batch.opt_outs:
        key = recipient_key(o.recipient)
        await _suppress(conn, rm, o.phone_number_id, key, "marketing", "meta_error", o.at)
    if batch.aliases:
        await record_aliases(conn, rm, [(a.alias, a.key, "sent", a.at) for a in batch.aliases])
    if emit_callbacks:
        rows = [
            row
            for change, state in batch.changes
            if (row := callback_row(change, state)) is not None
        ]
        replies = await _replied_to(conn, rm, batch.inbound)
        rows += [
            row
            for event in batch.inbound
            if (row := inbound_callback_row(event, replies.get(_reply_key(event)))) is not None
        ]
        if rows:
            await conn.execute(
                insert(callbacks).on_conflict_do_nothing(index_elements=["event_id"]), rows
            )


def _reply_key(event: MessageInboundReceived) -> tuple[str, UUID] | None:
    wamid = event.payload.context_wamid
    return (wamid, event.tenant_id) if wamid and event.tenant_id else None


async def _replied_to(
    conn: AsyncConnection, rm: ReadModel, messages: Sequence[MessageInboundReceived]
) -> dict[tuple[str, UUID] | None, UUID]:
    """The notification each inbound message answers, by (wamid, tenant): a wamid of
    another tenant's notification names none, so no tenant learns of another's sends."""
    keys = {k for m in messages if (k := _reply_key(m)) is not None}
    if not keys:
        return {}
    n = rm.notifications
    rows = await conn.execute(
        select(n.c.wamid, n.c.tenant_id, n.c.id).where(n.c.wamid.in_({w for w, _ in keys}))
    )
    found: dict[tuple[str, UUID] | None, UUID] = {}
    for row in rows:
        if (row.wamid, row.tenant_id) in keys:
            found[(row.wamid, row.tenant_id)] = row.id
    return found


async def _upsert_rows(conn: AsyncConnection, table: Table, states: Iterable[Notification]) -> None:
    stmt = insert(table)
    columns = [c.name for c in table.columns if c.name not in ("id", "created_at")]
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["id"], set_={c: stmt.excluded[c] for c in columns}
        ),
        [s.to_row() for s in states],
    )


async def project_recipient(
    conn: AsyncConnection, event: Event, keywords: Keywords, rm: ReadModel
) -> None:
    """Windows from inbound messages; the suppression list from opt-out and opt-in events
    and from keywords in inbound messages; number changes move both to the new key. Every
    row is keyed by :func:`recipient_key`, so any form of the same person matches."""
    if isinstance(event, RecipientErased):
        await _keep_erased_opt_outs(conn, rm, event)
        return
    if _names_erased_person(event):
        return  # its person is erased: nothing of it may reappear under their number
    if isinstance(event, MessageInboundReceived):
        p = event.payload
        keys = await _inbound_keys(conn, rm, p.from_, p.user_id, p.received_at)
        for key in keys:
            stmt = insert(rm.windows).values(
                phone_number_id=p.phone_number_id, recipient=key, last_inbound_at=p.received_at
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["phone_number_id", "recipient"],
                    set_={
                        "last_inbound_at": func.greatest(
                            rm.windows.c.last_inbound_at, p.received_at
                        )
                    },
                )
            )
        verdict = keywords.classify(p.text)
        for key in keys:
            if verdict == "opt_out":
                await _suppress(
                    conn, rm, p.phone_number_id, key, "all", "keyword", event.occurred_at
                )
            elif verdict == "opt_in":
                await _lift(conn, rm, p.phone_number_id, key, event.occurred_at)
    elif isinstance(event, RecipientOptedOut):
        o = event.payload
        await _suppress(
            conn,
            rm,
            o.phone_number_id or default_sender(),
            recipient_key(o.recipient),
            o.scope,
            o.source,
            event.occurred_at,
        )
    elif isinstance(event, RecipientOptedIn):
        i = event.payload
        await _lift(
            conn,
            rm,
            i.phone_number_id or default_sender(),
            recipient_key(i.recipient),
            event.occurred_at,
        )
    elif isinstance(event, RecipientNumberChanged):
        c = event.payload
        await _move(conn, rm, recipient_key(c.old), recipient_key(c.new), event.occurred_at)


def _names_erased_person(event: Event) -> bool:
    if isinstance(event, MessageInboundReceived):
        return is_erased(event.payload.from_) and not event.payload.user_id
    if isinstance(event, RecipientOptedOut | RecipientOptedIn):
        return is_erased(event.payload.recipient)
    if isinstance(event, RecipientNumberChanged):
        return is_erased(event.payload.old) or is_erased(event.payload.new)
    return False


async def _keep_erased_opt_outs(
    conn: AsyncConnection, rm: ReadModel, event: RecipientErased
) -> None:
    """An erased person's opt-outs, as the erasure kept them: keyed by pseudonym."""
    table = rm.suppressions
    for o in event.payload.opt_outs:
        stmt = insert(table).values(
            # an erasure before 0010 may have kept a "*" (every sender) row: its sender's
            phone_number_id=default_sender() if o.phone_number_id == "*" else o.phone_number_id,
            recipient=o.recipient,
            scope=o.scope,
            source=o.source,
            since=o.since,
            lifted_at=o.lifted_at,
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["phone_number_id", "recipient", "scope"],
                set_={
                    "since": func.greatest(table.c.since, stmt.excluded.since),
                    "lifted_at": func.greatest(table.c.lifted_at, stmt.excluded.lifted_at),
                    "source": func.coalesce(stmt.excluded.source, table.c.source),
                },
            )
        )


async def _inbound_keys(
    conn: AsyncConnection, rm: ReadModel, sender: str | None, user_id: str | None, at: datetime
) -> list[str]:
    """The keys an inbound message speaks for: its WhatsApp id's, its BSUID, and for a
    BSUID alone the number an earlier message paired it with. A message naming both folds
    what the BSUID alone said before (a STOP projected before the pairing was known) into
    the number."""
    keys = [recipient_key(sender)] if sender else []
    if user_id:
        bsuid = recipient_key(user_id)
        if keys:
            await record_alias(conn, rm, bsuid, keys[0], "inbound", at)
            await _merge(conn, rm, bsuid, keys[0])
        else:
            known = (
                await conn.execute(
                    select(rm.recipient_aliases.c.key).where(rm.recipient_aliases.c.alias == bsuid)
                )
            ).scalar_one_or_none()
            if known is not None and known != bsuid:
                keys.append(known)
        keys.insert(0, bsuid)
    return keys


async def record_alias(
    conn: AsyncConnection, rm: ReadModel, alias: str, key: str, source: str, at: datetime
) -> None:
    """Remember that ``alias`` names the person keyed ``key`` (the latest pairing wins)."""
    await record_aliases(conn, rm, [(alias, key, source, at)])


async def record_aliases(
    conn: AsyncConnection, rm: ReadModel, pairings: Sequence[tuple[str, str, str, datetime]]
) -> None:
    """:func:`record_alias` for many ``(alias, key, source, at)`` in one statement; of
    several pairings of one alias the latest wins (the last given, at equal times)."""
    latest: dict[str, tuple[str, str, str, datetime]] = {}
    for pairing in pairings:
        held = latest.get(pairing[0])
        if held is None or pairing[3] >= held[3]:
            latest[pairing[0]] = pairing
    table = rm.recipient_aliases
    stmt = insert(table).values(
        [
            {"alias": alias, "key": key, "source": source, "seen_at": at}
            for alias, key, source, at in sorted(latest.values())
        ]
    )
    newer = stmt.excluded.seen_at >= table.c.seen_at
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["alias"],
            set_={
                "key": case((newer, stmt.excluded.key), else_=table.c.key),
                "source": case((newer, stmt.excluded.source), else_=table.c.source),
                "seen_at": func.greatest(table.c.seen_at, stmt.excluded.seen_at),
            },
        )
    )


async def _move(conn: AsyncConnection, rm: ReadModel, old: str, new: str, at: datetime) -> None:
    """A number change: the person's opt-outs and window leave the old key (which may be
    someone else's number one day) for the new one, merged with whatever is there."""
    if old == new:
        return
    await _merge(conn, rm, old, new)
    a = rm.recipient_aliases  # the old number still names this person, for erasure
    await conn.execute(update(a).where(a.c.key == old).values(key=new))
    await record_alias(conn, rm, old, new, "number_changed", at)
    await conn.execute(delete(rm.suppressions).where(rm.suppressions.c.recipient == old))
    await conn.execute(delete(rm.windows).where(rm.windows.c.recipient == old))


async def _merge(conn: AsyncConnection, rm: ReadModel, source: str, target: str) -> None:
    """Fold ``source``'s opt-outs, opt-ins and window into ``target``'s, each time only
    moving forward, so the result does not depend on the order facts were learnt in."""
    s = rm.suppressions
    merged = insert(s).from_select(
        ["phone_number_id", "recipient", "scope", "source", "since", "lifted_at"],
        select(
            s.c.phone_number_id, literal(target), s.c.scope, s.c.source, s.c.since, s.c.lifted_at
        ).where(s.c.recipient == source),
    )
    newer = (s.c.since.is_(None)) | (merged.excluded.since >= s.c.since)
    await conn.execute(
        merged.on_conflict_do_update(
            index_elements=["phone_number_id", "recipient", "scope"],
            set_={
                "since": func.greatest(s.c.since, merged.excluded.since),
                "lifted_at": func.greatest(s.c.lifted_at, merged.excluded.lifted_at),
                "source": case((newer, merged.excluded.source), else_=s.c.source),
            },
        )
    )
    w = rm.windows
    window = insert(w).from_select(
        ["phone_number_id", "recipient", "last_inbound_at"],
        select(w.c.phone_number_id, literal(target), w.c.last_inbound_at).where(
            w.c.recipient == source
        ),
    )
    await conn.execute(
        window.on_conflict_do_update(
            index_elements=["phone_number_id", "recipient"],
            set_={
                "last_inbound_at": func.greatest(
                    w.c.last_inbound_at, window.excluded.last_inbound_at
                )
            },
        )
    )


async def _suppress(
    conn: AsyncConnection,
    rm: ReadModel,
    sender: str,
    recipient: str,
    scope: Scope,
    source: str,
    at: datetime,
) -> None:
    table = rm.suppressions
    stmt = insert(table).values(
        phone_number_id=sender, recipient=recipient, scope=scope, source=source, since=at
    )
    newer = (table.c.since.is_(None)) | (stmt.excluded.since >= table.c.since)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["phone_number_id", "recipient", "scope"],
            set_={
                "since": func.greatest(table.c.since, stmt.excluded.since),
                "source": case((newer, stmt.excluded.source), else_=table.c.source),
            },
        )
    )


async def _lift(
    conn: AsyncConnection, rm: ReadModel, sender: str, recipient: str, at: datetime
) -> None:
    """An opt-in lifts opt-outs older than it, in every scope; a later opt-out wins again.
    It also lifts what an erasure kept of the person's opt-outs (under their pseudonym)."""
    table = rm.suppressions
    await conn.execute(
        update(table)
        .where(
            table.c.phone_number_id == sender,
            table.c.recipient == deployment_pseudonym(recipient),
        )
        .values(lifted_at=func.greatest(table.c.lifted_at, at))
    )
    for scope in SCOPES:
        stmt = insert(table).values(
            phone_number_id=sender, recipient=recipient, scope=scope, lifted_at=at
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["phone_number_id", "recipient", "scope"],
                set_={"lifted_at": func.greatest(table.c.lifted_at, stmt.excluded.lifted_at)},
            )
        )
