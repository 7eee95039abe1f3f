"""Tables of the ``ledger`` schema: the append-only event store, the read models rebuilt
from it, and the callback outbox (which a rebuild leaves alone: callbacks are not re-sent)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from notif_core import quarantine as notif_quarantine

metadata = MetaData(schema="ledger")

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("type", Text, nullable=False),
    Column("notification_id", UUID(as_uuid=True), nullable=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("body", JSONB, nullable=False),
    Column("wamid", Text, nullable=True),
    Index("events_by_notification", "notification_id", "seq"),
    Index(
        "events_unlinked_by_wamid",
        "wamid",
        "seq",
        postgresql_where=text("notification_id IS NULL AND wamid IS NOT NULL"),
    ),
)
"""Every event as it arrived. ``notification_id`` is the one the event named; a status
found by its wamid alone keeps NULL there and is linked through ``wamid``."""

notifications = Table(
    "notifications",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=True),
    Column("status", Text, nullable=False),
    Column("wamid", Text, nullable=True, unique=True),
    Column("last_error", JSONB, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("accepted_at", DateTime(timezone=True), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("read_at", DateTime(timezone=True), nullable=True),
    Column("failed_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("scheduled_at", DateTime(timezone=True), nullable=True),
    Column("expired_at", DateTime(timezone=True), nullable=True),
    Column("cancelled_at", DateTime(timezone=True), nullable=True),
    Column("suppressed_at", DateTime(timezone=True), nullable=True),
    Column("phone_number_id", Text, nullable=True),
    Column("recipient", Text, nullable=True),
    Column("recipient_country", Text, nullable=True),
    Column("callback_url", Text, nullable=True),
    Column("metadata", JSONB, nullable=True),
    Column("pricing_category", Text, nullable=True),
    Column("billable", Boolean, nullable=True),
    Column("pricing_model", Text, nullable=True),
    Column("billed_at", DateTime(timezone=True), nullable=True),
    Column("usage_counted", Boolean, nullable=False, server_default="false"),
    Index("notifications_by_recipient", "recipient"),
)

windows = Table(
    "windows",
    metadata,
    Column("phone_number_id", Text, primary_key=True),
    Column("recipient", Text, primary_key=True),
    Column("last_inbound_at", DateTime(timezone=True), nullable=False),
)
"""Last inbound message per (sender, recipient): the 24h customer-service window.
``recipient`` is ``notif_core.identity.recipient_key`` of the user's WhatsApp id (or BSUID),
so every form of one person finds the same row."""

suppressions = Table(
    "suppressions",
    metadata,
    Column("phone_number_id", Text, primary_key=True),
    Column("recipient", Text, primary_key=True),
    Column("scope", Text, primary_key=True),
    Column("source", Text, nullable=True),
    Column("since", DateTime(timezone=True), nullable=True),
    Column("lifted_at", DateTime(timezone=True), nullable=True),
)
"""Who must not be messaged: ``all`` (opted out) or ``marketing`` only, keyed by
``recipient_key`` like the windows.

A recipient is suppressed while ``since`` (latest opt-out) is later than ``lifted_at``
(latest opt-in). Keeping both times, each only ever moved forward, makes the outcome the
same whatever order the events arrive in, which is what lets a rebuild reproduce it."""

recipient_aliases = Table(
    "recipient_aliases",
    metadata,
    Column("alias", Text, primary_key=True),
    Column("key", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Index("recipient_aliases_by_key", "key"),
)
"""Other forms of a recipient and the identity key Meta's id gives them: the number a
client dialled (``input``) for the ``wa_id`` Meta answered, or a BSUID for the WhatsApp id
it came with. Windows and suppressions are keyed by ``recipient_key``; a BSUID-only opt-out
also reaches the number its alias names."""


subject_keys = Table(
    "subject_keys",
    metadata,
    Column("kid", UUID(as_uuid=True), primary_key=True),
    Column("subject", Text, nullable=False, unique=True),
    Column("key", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
"""One AES-256 data key per person (``subject``: the pseudonym of their identity key), under
which their events' personal fields are sealed (``ledger.sealing``). Erasure deletes the
row; the events stay and read back redacted. Not a read model: a rebuild keeps it."""

usage = Table(
    "usage",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("category", Text, primary_key=True),
    Column("billable", Boolean, primary_key=True),
    Column("country", Text, primary_key=True),
    Column("messages", BigInteger, nullable=False),
)
"""Messages Meta priced, per tenant, UTC day, pricing category, billable flag and country."""

callbacks = Table(
    "callbacks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("notification_id", UUID(as_uuid=True), nullable=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=True),
    Column("url", Text, nullable=False),
    Column("body", JSONB, nullable=False),
    Column("traceparent", Text, nullable=True),
    Column("state", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Index("callbacks_due", "next_attempt_at", postgresql_where=text("state = 'pending'")),
    Index("callbacks_by_tenant", "tenant_id", "state", "created_at"),
    Index("callbacks_by_notification", "notification_id"),
    Index("callbacks_quarantined", "id", postgresql_where=text("state = 'quarantined'")),
)
"""Callbacks owed to customers, status changes and inbound messages (``notification_id``
NULL): written in the projection's transaction, so a status change and its callback commit
together; delivered at least once by ``ledger.callbacks``."""

quarantine = notif_quarantine.table(metadata)
"""Messages the ledger's consumer set aside with their reason (migration 0005), in the shape
every consumer's quarantine shares (``notif_core.quarantine.table``)."""
Index("quarantine_by_created", quarantine.c.created_at)


@dataclass(frozen=True)
class ReadModel:
    """The read-model tables one projection writes: the live ones, or a rebuild's copies."""

    notifications: Table
    windows: Table
    suppressions: Table
    usage: Table
    recipient_aliases: Table

    @classmethod
    def in_schema(cls, schema: str) -> ReadModel:
        copies = MetaData(schema=schema)
        return cls(
            notifications.to_metadata(copies, schema=schema),
            windows.to_metadata(copies, schema=schema),
            suppressions.to_metadata(copies, schema=schema),
            usage.to_metadata(copies, schema=schema),
            recipient_aliases.to_metadata(copies, schema=schema),
        )

    def tables(self) -> tuple[Table, ...]:
        return (
            self.notifications,
            self.windows,
            self.suppressions,
            self.usage,
            self.recipient_aliases,
        )


LIVE = ReadModel(notifications, windows, suppressions, usage, recipient_aliases)


def _retired(table: Table) -> Table:
    """A baseline twin: the same columns and key, no other index."""
    name = f"retired_{table.name.removeprefix('recipient_')}"
    return Table(name, metadata, *(c._copy() for c in table.columns))


retired_usage = _retired(usage)
retired_suppressions = _retired(suppressions)
retired_aliases = _retired(recipient_aliases)
"""The rebuild's baseline (migration 0009): what events purged by ``ledger.retention``
contributed to usage, suppressions and aliases. A rebuild starts from these rows and
replays the events that are left, so it still equals the live tables."""
RETIRED = (
    (usage, retired_usage),
    (suppressions, retired_suppressions),
    (recipient_aliases, retired_aliases),
)
"""Each live read-model table and its baseline."""
