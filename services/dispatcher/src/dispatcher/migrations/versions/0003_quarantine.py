"""``dispatcher.quarantine``: messages the dispatcher set aside because they can never be handled
(their body, reason class and a short detail), kept for ``notifctl quarantine`` to list, retry
or drop. The shape is ``notif_core.quarantine.table``'s.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "dispatcher"


def upgrade() -> None:
    op.create_table(
        "quarantine",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.Text, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("notification_id", UUID(as_uuid=True), nullable=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=True),
        sa.Column("receive_count", sa.Integer, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("queue", "message_id", name="quarantine_message"),
        schema=S,
    )
    op.create_index("quarantine_by_created", "quarantine", ["created_at"], schema=S)


def downgrade() -> None:
    op.drop_table("quarantine", schema=S)
