"""Tenants and API keys, accepted notifications, idempotency keys, the transactional outbox
and the durable inbox of Meta's webhooks.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "ingest"


def _created() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("phone_number_ids", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("callback_url", sa.Text, nullable=True),
        sa.Column("rate_limit_per_second", sa.Integer, nullable=True),
        _created(),
        schema=S,
    )
    op.create_table(
        "api_keys",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "tenant_id", UUID(as_uuid=True), sa.ForeignKey(f"{S}.tenants.id"), nullable=False
        ),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=True),
        _created(),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        schema=S,
    )
    op.create_table(
        "notifications",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "tenant_id", UUID(as_uuid=True), sa.ForeignKey(f"{S}.tenants.id"), nullable=False
        ),
        sa.Column("to", sa.Text, nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("request", JSONB, nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("callback_url", sa.Text, nullable=True),
        _created(),
        schema=S,
    )
    op.create_index(
        "notifications_by_tenant_time", "notifications", ["tenant_id", "created_at", "id"], schema=S
    )
    op.create_index(
        "notifications_by_tenant_to", "notifications", ["tenant_id", "to", "created_at"], schema=S
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", JSONB, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("tenant_id", "key"),
        schema=S,
    )
    op.create_index("idempotency_keys_by_age", "idempotency_keys", ["created_at"], schema=S)
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(32), nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("deliver_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "available_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        _created(),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        schema=S,
    )
    op.create_index(
        "outbox_due",
        "outbox",
        ["available_at", "id"],
        schema=S,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "webhook_inbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        schema=S,
    )
    op.create_index(
        "webhook_inbox_pending",
        "webhook_inbox",
        ["id"],
        schema=S,
        postgresql_where=sa.text("processed_at IS NULL"),
    )


def downgrade() -> None:
    for table in (
        "webhook_inbox",
        "outbox",
        "idempotency_keys",
        "notifications",
        "api_keys",
        "tenants",
    ):
        op.drop_table(table, schema=S)
