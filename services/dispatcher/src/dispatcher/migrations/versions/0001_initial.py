"""Record of sends Meta accepted.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sends",
        sa.Column("notification_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("wamid", sa.Text, nullable=False),
        sa.Column(
            "sent_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="dispatcher",
    )


def downgrade() -> None:
    op.drop_table("sends", schema="dispatcher")
