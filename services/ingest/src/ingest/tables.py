"""Tables of the ``ingest`` schema (SQLAlchemy Core); Alembic migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = MetaData(schema="ingest")

tenants = Table(
    "tenants",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("phone_number_ids", ARRAY(Text), nullable=False, server_default="{}"),
    Column("callback_url", Text, nullable=True),
    Column("rate_limit_per_second", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("inbound_callback_url", Text, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("ingest.tenants.id"), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("ingest.tenants.id"), nullable=False),
    Column("to", Text, nullable=False),
    Column("priority", String(8), nullable=False),
    Column("request", JSONB, nullable=False),
    Column("send_at", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("callback_url", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("notifications_by_tenant_time", "tenant_id", "created_at", "id"),
    Index("notifications_by_tenant_to", "tenant_id", "to", "created_at"),
)

callback_secrets = Table(
    "callback_secrets",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("ingest.tenants.id"), nullable=False),
    Column("secret", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Index("callback_secrets_by_tenant", "tenant_id"),
)
"""HMAC secrets for status callbacks. Kept in clear (unlike API keys): signing needs them,
and the tenant reads them back through the API to verify."""

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "key"),
    Index("idempotency_keys_by_age", "created_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("queue", String(32), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("body", Text, nullable=False),
    Column("deliver_at", DateTime(timezone=True), nullable=True),
    Column("available_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Column("quarantined_at", DateTime(timezone=True), nullable=True),
    Column("quarantine_reason", Text, nullable=True),
    Index(
        "outbox_due",
        "available_at",
        "id",
        postgresql_where=text("published_at IS NULL AND quarantined_at IS NULL"),
    ),
    Index("outbox_quarantined", "id", postgresql_where=text("quarantined_at IS NOT NULL")),
)

webhook_inbox = Table(
    "webhook_inbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("body", LargeBinary, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=True),
    Index("webhook_inbox_pending", "id", postgresql_where=text("processed_at IS NULL")),
)

inbound_marks = Table(
    "inbound_marks",
    metadata,
    Column("phone_number_id", Text, primary_key=True),
    Column("recipient_key", Text, primary_key=True),
    Column("last_inbound_at", DateTime(timezone=True), nullable=False),
    Column("marked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("user_id", Text, nullable=True),
    Index("inbound_marks_by_age", "marked_at"),
    Index("inbound_marks_by_user_id", "phone_number_id", "user_id"),
)
"""The newest inbound message per (business number, ``recipient_key``), written with the
webhook that carried it: what the dispatcher knows before the ledger has projected it. Read
by others only through ``ingest.inbound_mark_v1`` (migration 0004). ``user_id``: the BSUID
a number's messages came with (migration 0005)."""

inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("phone_number_id", Text, primary_key=True),
    Column("recipient_key", Text, primary_key=True),
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("marked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("inbound_messages_by_age", "marked_at"),
)
"""The event of every inbound message ingest acknowledged, per (business number,
``recipient_key``), kept 25 h: the dispatcher waits until the ledger has stored each recent
one, which a mark's whole-second timestamp cannot tell. Read by others only through
``ingest.inbound_messages_v1`` (migration 0008)."""

erasures = Table(
    "erasures",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=True),
    Column("subject", Text, nullable=False),
    Column("requested_by", Text, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("erasures_by_subject", "subject", "tenant_id"),
)
"""Erasures carried out: by which tenant (none: the operator), of whom (the pseudonym of
the identity key), when (migration 0006)."""

templates = Table(
    "templates",
    metadata,
    Column("waba_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("language", Text, nullable=False),
    Column("meta_id", Text, nullable=True),
    Column("category", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("parameter_format", Text, nullable=False, server_default="POSITIONAL"),
    Column("components", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("waba_id", "name", "language"),
)
"""Each business account's templates as Meta's ``message_templates`` API last listed them,
with any status a webhook changed since (migration 0009)."""

template_catalogues = Table(
    "template_catalogues",
    metadata,
    Column("waba_id", Text, primary_key=True),
    Column("synced_at", DateTime(timezone=True), nullable=True),
    Column("templates", Integer, nullable=False, server_default="0"),
    Column("sync_requested_at", DateTime(timezone=True), nullable=True),
)
"""When each business account's catalogue was last synced in full (NULL: never, so sends
through it are not checked) and when a webhook asked for the next sync (migration 0009)."""

business_numbers = Table(
    "business_numbers",
    metadata,
    Column("waba_id", Text, nullable=False),
    Column("display_digits", Text, nullable=False),
    Column("phone_number_id", Text, nullable=True),
    Column("quality_rating", Text, nullable=True),
    Column("messaging_limit", Text, nullable=True),
    Column("throughput_level", Text, nullable=True),
    Column("last_event", Text, nullable=True),
    Column("reported_at", DateTime(timezone=True), nullable=True),
    Column("synced_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("waba_id", "display_digits"),
    Index(
        "business_numbers_phone_number_id",
        "phone_number_id",
        unique=True,
        postgresql_where=text("phone_number_id IS NOT NULL"),
    ),
)
"""Each sender number of a business account as Meta last reported it: keyed by its display
number's digits, the only name ``phone_number_quality_update`` gives it; ``phone_number_id``
comes from the phone-number API (migration 0010)."""

business_accounts = Table(
    "business_accounts",
    metadata,
    Column("waba_id", Text, primary_key=True),
    Column("last_event", Text, nullable=True),
    Column("ban_state", Text, nullable=True),
    Column("restrictions", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("violation_type", Text, nullable=True),
    Column("reported_at", DateTime(timezone=True), nullable=True),
    Column("numbers_synced_at", DateTime(timezone=True), nullable=True),
    Column("numbers_sync_requested_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
"""Each business account's standing from ``account_update`` (ban state, restrictions,
violation), and when its numbers were last read from Meta (migration 0010)."""

inbound_routes = Table(
    "inbound_routes",
    metadata,
    Column("phone_number_id", Text, primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("ingest.tenants.id"), nullable=False),
    Column("callback_url", Text, nullable=False),
)
"""Where inbound messages to one sender number go, instead of the tenant's
``inbound_callback_url`` (migration 0011)."""

inbound = Table(
    "inbound",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=True),
    Column("phone_number_id", Text, nullable=False),
    Column("sender", Text, nullable=True),
    Column("user_id", Text, nullable=True),
    Column("wamid", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("content", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("context_wamid", Text, nullable=True),
    Column("profile_name", Text, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("read_at", DateTime(timezone=True), nullable=True),
    Index("inbound_by_tenant_time", "tenant_id", "received_at", "id"),
    Index("inbound_by_age", "stored_at"),
)
"""Every inbound message, with the tenant that owns its number (NULL: no tenant holds it),
for ``GET /v1/inbound``; ``id`` is its ``message.inbound_received`` event id (migration
0011)."""
