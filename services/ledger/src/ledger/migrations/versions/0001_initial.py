"""Append-only event store and the notification status read model.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "ledger"


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("notification_id", UUID(as_uuid=True), nullable=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("body", JSONB, nullable=False),
        schema=S,
    )
    op.create_index("events_by_notification", "events", ["notification_id", "seq"], schema=S)
    # Events are facts: the database itself refuses to change or remove one.
    op.execute(
        f"""
        CREATE FUNCTION {S}.events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'ledger.events is append-only (% refused)', TG_OP;
        END $$;
        CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON {S}.events
            FOR EACH ROW EXECUTE FUNCTION {S}.events_are_append_only();
        CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON {S}.events
            FOR EACH STATEMENT EXECUTE FUNCTION {S}.events_are_append_only();
        """
    )
    op.create_table(
        "notifications",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("wamid", sa.Text, nullable=True, unique=True),
        sa.Column("last_error", JSONB, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("notifications", schema=S)
    op.execute(f"DROP TABLE {S}.events; DROP FUNCTION {S}.events_are_append_only();")
