"""Tables of the ``ledger`` schema: the append-only event store and the status read model."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

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
    Index("events_by_notification", "notification_id", "seq"),
)

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
)

windows = Table(
    "windows",
    metadata,
    Column("phone_number_id", Text, primary_key=True),
    Column("recipient", Text, primary_key=True),
    Column("last_inbound_at", DateTime(timezone=True), nullable=False),
)
"""Last inbound message per (sender, recipient): the 24h customer-service window."""

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
"""Who must not be messaged: ``all`` (opted out) or ``marketing`` only.

A recipient is suppressed while ``since`` (latest opt-out) is later than ``lifted_at``
(latest opt-in). Keeping both times, each only ever moved forward, makes the outcome the
same whatever order the events arrive in, which is what lets a rebuild reproduce it."""


@dataclass(frozen=True)
class ReadModel:
    """The read-model tables one projection writes: the live ones, or a rebuild's copies."""

    notifications: Table
    windows: Table
    suppressions: Table

    @classmethod
    def in_schema(cls, schema: str) -> ReadModel:
        copies = MetaData(schema=schema)
        return cls(
            notifications.to_metadata(copies, schema=schema),
            windows.to_metadata(copies, schema=schema),
            suppressions.to_metadata(copies, schema=schema),
        )

    def tables(self) -> tuple[Table, ...]:
        return (self.notifications, self.windows, self.suppressions)


LIVE = ReadModel(notifications, windows, suppressions)
