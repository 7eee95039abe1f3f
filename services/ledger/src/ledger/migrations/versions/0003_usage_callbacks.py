"""Parked statuses, per-status timestamps, usage and cost, and the customer callback outbox.

- ``events.wamid``: the wamid an event speaks of, indexed where the event names no
  notification, so statuses that arrived before their ``sent`` can be found again.
- ``notifications``: a timestamp per status, the recipient (for Meta's 131050), pricing,
  and what callbacks need (callback_url, metadata).
- ``usage``: messages per tenant, UTC day, pricing category, billable flag and country.
- ``callbacks``: status callbacks to deliver to customers, written with the projection.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "ledger"
_TS = sa.DateTime(timezone=True)


def _new_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("scheduled_at", _TS, nullable=True),
        sa.Column("expired_at", _TS, nullable=True),
        sa.Column("cancelled_at", _TS, nullable=True),
        sa.Column("suppressed_at", _TS, nullable=True),
        sa.Column("phone_number_id", sa.Text, nullable=True),
        sa.Column("recipient", sa.Text, nullable=True),
        sa.Column("recipient_country", sa.Text, nullable=True),
        sa.Column("callback_url", sa.Text, nullable=True),
        sa.Column("metadata", JSONB, nullable=True),
        sa.Column("pricing_category", sa.Text, nullable=True),
        sa.Column("billable", sa.Boolean, nullable=True),
        sa.Column("pricing_model", sa.Text, nullable=True),
        sa.Column("billed_at", _TS, nullable=True),
        sa.Column("usage_counted", sa.Boolean, nullable=False, server_default=sa.false()),
    ]


def upgrade() -> None:
    op.add_column("events", sa.Column("wamid", sa.Text, nullable=True), schema=S)
    op.create_index(
        "events_unlinked_by_wamid",
        "events",
        ["wamid", "seq"],
        schema=S,
        postgresql_where=sa.text("notification_id IS NULL AND wamid IS NOT NULL"),
    )
    for column in _new_columns():
        op.add_column("notifications", column, schema=S)
    op.create_table(
        "usage",
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("billable", sa.Boolean, nullable=False),
        sa.Column("country", sa.Text, nullable=False),
        sa.Column("messages", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "day", "category", "billable", "country"),
        schema=S,
    )
    op.create_table(
        "callbacks",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("notification_id", UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("body", JSONB, nullable=False),
        sa.Column("traceparent", sa.Text, nullable=True),
        sa.Column("state", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", _TS, nullable=False, server_default=sa.func.now()),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now()),
        sa.Column("delivered_at", _TS, nullable=True),
        sa.CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="callbacks_state"),
        schema=S,
    )
    op.create_index(
        "callbacks_due",
        "callbacks",
        ["next_attempt_at"],
        schema=S,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "callbacks_by_tenant", "callbacks", ["tenant_id", "state", "created_at"], schema=S
    )
    op.create_index("callbacks_by_notification", "callbacks", ["notification_id"], schema=S)


def downgrade() -> None:
    op.drop_table("callbacks", schema=S)
    op.drop_table("usage", schema=S)
    for column in _new_columns():
        op.drop_column("notifications", column.name, schema=S)
    op.drop_index("events_unlinked_by_wamid", table_name="events", schema=S)
    op.drop_column("events", "wamid", schema=S)
