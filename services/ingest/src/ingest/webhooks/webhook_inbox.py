"""Meta's webhooks: stored durably, with their events, before the 200.

Answering fast matters (Meta retries slow endpoints) and so does losing nothing: in one
transaction the raw bytes go to ``webhook_inbox`` and the events they carry to the outbox,
which the relay publishes as soon as the transaction commits. Bodies that carry only
statuses, three or four per notification, share their transaction with the other requests
of the moment (:mod:`ingest.group_commit`): under load, one round trip and one WAL flush
store dozens of them. Duplicates are harmless: event
ids derive from (wamid, status). They are also cheap: an event this process has already
committed is not queued again (Meta repeats a message's pricing on each of its statuses, and
redelivers webhooks), so six messages per notification reach the events queue, not eight.
Each status and message is translated on its own (``meta_webhooks.translate``): one that
cannot be is counted and logged, its neighbours still flow, and its body stays in the inbox
unprocessed (``processed_at`` NULL), for an operator to look at. So does a body whose events
the database refuses, stored alone: Meta is answered 200 and does not retry it forever.
Inbound messages also move their sender's mark (``inbound_marks.py``) in the same
transaction, so the dispatcher knows of them before the ledger has projected them.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from sqlalchemy import func
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.group_commit import GroupCommit
from ingest.inbound import owners
from ingest.metrics import ACCOUNT_REPORTS_IGNORED, WEBHOOK_EVENTS, WEBHOOK_UNTRANSLATED
from ingest.relay import outbox
from ingest.senders import store as senders_store
from ingest.senders.reports import NumberReport
from ingest.tables import webhook_inbox
from ingest.templates import catalogue
from ingest.webhooks import inbound_marks
from ingest.webhooks.meta_webhooks import MAX_ID, Translation, sanitised, translate
from notif_core.db import Rows, autocommit, execute_at_once
from notif_core.events import Event, utcnow
from notif_core.logging import get_logger
from notif_core.sqs.publisher import with_trace

log = get_logger(__name__)


RECENT_EVENTS = 32_768
"""Event ids remembered per process: minutes of statuses at full speed, a few MB."""


class RecentIds:
    """The last ``size`` ids added, oldest forgotten first."""

    def __init__(self, size: int = RECENT_EVENTS) -> None:
        self._size = size
        self._ids: OrderedDict[UUID, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, ids: Iterable[UUID]) -> None:
        for event_id in ids:
            self._ids[event_id] = None
            self._ids.move_to_end(event_id)
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)


@dataclass(frozen=True)
class _Statuses:
    """A body every item of which translated, with no inbound message: its events only."""

    raw: bytes
    events: list[Event]


class WebhookInbox:
    """``fallback``: the number a tenant without numbers sends from (``SINGLE_TENANT``), whose
    inbound messages that tenant owns (``ingest.inbound.owners``). ``wabas``: the business
    accounts the settings name; Meta's reports of another account's standing change nothing
    (None: every account's count, as in tests of one account)."""

    def __init__(
        self,
        engine: AsyncEngine,
        fallback: str | None = None,
        wabas: frozenset[str] | None = None,
    ) -> None:
        self._engine = engine
        self._fallback = fallback
        self._wabas = wabas
        self._autocommit = autocommit(engine)
        self._group: GroupCommit[_Statuses, None] = GroupCommit(
            self._write_group, "webhooks", size=lambda body: len(body.raw)
        )
        self._committed = RecentIds()
        """Best effort, per replica: the ledger still stores each event once."""

    async def stop(self) -> None:
        """Answer the bodies being written."""
        await self._group.stop()

    def _not_yet_queued(self, events: Iterable[Event]) -> list[Event]:
        fresh: dict[UUID, Event] = {}
        for event in events:
            if event.event_id not in self._committed and event.event_id not in fresh:
                fresh[event.event_id] = with_trace(event)
        return list(fresh.values())

    async def store(self, raw: bytes) -> int:
        """Commit the raw body and its events; returns how many events it queued."""
        marks: list[inbound_marks.Mark] = []
        try:
            payload = sanitised(json.loads(raw))
            if not isinstance(payload, dict):
                raise ValueError("not a webhook object")
            translation = translate(payload)
            marks = _storable(inbound_marks.from_payload(payload))
        except Exception as exc:  # signed by Meta but not understood: keep it for inspection
            log.error("webhook_not_translated", error=type(exc).__name__)
            WEBHOOK_UNTRANSLATED.labels(kind="body").inc()
            await self._commit(raw, [], [], [], processed=False)
            return 0
        events = self._not_yet_queued(translation.events)
        processed = not translation.untranslated
        acks = _storable(inbound_marks.acknowledged(events))
        inbox_id: int | None = None
        try:
            if processed and not marks and not acks and not translation.changes_state:
                await self._group.submit(_Statuses(raw, events))
            else:
                inbox_id = await self._commit(
                    raw, events, marks, acks, processed=processed, translation=translation
                )
        except Exception as exc:
            if _unavailable(exc):
                raise  # answered 503: Meta delivers it again once the database is back
            log.error("webhook_not_stored", error=type(exc).__name__)
            WEBHOOK_UNTRANSLATED.labels(kind="body").inc()
            await self._commit(raw, [], [], [], processed=False)
            return 0
        if not processed:
            for kind in translation.untranslated:
                WEBHOOK_UNTRANSLATED.labels(kind=kind).inc()
            log.warning(
                "webhook_items_untranslated",
                inbox_id=inbox_id,
                statuses=translation.untranslated.count("status"),
                messages=translation.untranslated.count("message"),
                events=len(translation.events),
            )
        self._committed.add(e.event_id for e in events)
        for event in events:
            WEBHOOK_EVENTS.labels(type=event.type).inc()
        return len(events)

    async def _write_group(self, bodies: Sequence[_Statuses]) -> list[None]:
        """Status bodies in one round trip (an implicit transaction): the bodies, their
        events (each once, though two bodies carry it) and the relay's wake-up."""
        now = utcnow()
        events = {event.event_id: event for body in bodies for event in body.events}
        statements = [
            Rows(webhook_inbox, ("body", "processed_at"), [(body.raw, now) for body in bodies]),
            *outbox.statements([outbox.Pending("events", e) for e in events.values()]),
        ]
        async with self._autocommit.connect() as conn:
            await execute_at_once(conn, statements)
        return [None] * len(bodies)

    async def _commit(
        self,
        raw: bytes,
        events: list[Event],
        marks: list[inbound_marks.Mark],
        acks: list[inbound_marks.Acknowledged],
        *,
        processed: bool,
        translation: Translation | None = None,
    ) -> int:
        """One transaction: the body (``processed_at`` unset unless every item translated),
        its events (inbound ones with their owner, and stored for ``GET /v1/inbound``), its
        marks, its acknowledged messages, the template statuses it changes
        (each also asks for the catalogue's next sync) and the standing Meta reports of a
        number or an account. Returns the inbox row's id."""
        async with self._engine.begin() as conn:
            inbox_id: int = (
                await conn.execute(
                    webhook_inbox.insert()
                    .values(body=raw, processed_at=func.now() if processed else None)
                    .returning(webhook_inbox.c.id)
                )
            ).scalar_one()
            events = await owners.claim(conn, events, self._fallback)
            await outbox.add_many(conn, [outbox.Pending("events", e) for e in events])
            await inbound_marks.upsert(conn, marks)
            await inbound_marks.record(conn, acks)
            if translation is not None:
                for change in translation.templates:
                    await catalogue.changed(conn, change)
                for report in translation.senders:
                    if self._wabas is not None and report.waba_id not in self._wabas:
                        ACCOUNT_REPORTS_IGNORED.inc()
                        log.warning("account_report_ignored", waba_id=report.waba_id[:32])
                        continue
                    if isinstance(report, NumberReport):
                        await senders_store.number_reported(conn, report)
                    else:
                        await senders_store.account_reported(conn, report)
        return inbox_id


_Keyed = TypeVar("_Keyed", inbound_marks.Mark, inbound_marks.Acknowledged)


def _storable(rows: list[_Keyed]) -> list[_Keyed]:
    """Rows whose keys are identifiers, not a body's worth of text (an index refuses those)."""
    return [r for r in rows if len(r.phone_number_id) <= MAX_ID and len(r.recipient_key) <= MAX_ID]


RETRYABLE_STATES = frozenset({"08", "40", "53", "57", "58"})
"""SQLSTATE classes of a database out of reach or busy (connection, transaction rollback,
resources, operator intervention, system), as opposed to one refusing this body's data."""


def _unavailable(exc: Exception) -> bool:
    """Worth Meta's retry (answered 503), rather than a body the database refuses."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    state = getattr(exc.orig, "sqlstate", None)
    return bool(exc.connection_invalidated) or (
        isinstance(exc, OperationalError)
        and (not isinstance(state, str) or state[:2] in RETRYABLE_STATES)
    )
