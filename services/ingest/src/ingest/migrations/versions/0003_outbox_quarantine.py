"""Outbox rows the relay sets aside: when, and why.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.add_column(
        "outbox", sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True), schema=S
    )
    op.add_column("outbox", sa.Column("quarantine_reason", sa.Text, nullable=True), schema=S)
    # The relay's claim skips set-aside rows: they leave the partial index of due rows.
    op.drop_index("outbox_due", table_name="outbox", schema=S)
    op.create_index(
        "outbox_due",
        "outbox",
        ["available_at", "id"],
        schema=S,
        postgresql_where=sa.text("published_at IS NULL AND quarantined_at IS NULL"),
    )
    op.create_index(
        "outbox_quarantined",
        "outbox",
        ["id"],
        schema=S,
        postgresql_where=sa.text("quarantined_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("outbox_quarantined", table_name="outbox", schema=S)
    op.drop_index("outbox_due", table_name="outbox", schema=S)
    op.create_index(
        "outbox_due",
        "outbox",
        ["available_at", "id"],
        schema=S,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_column("outbox", "quarantine_reason", schema=S)
    op.drop_column("outbox", "quarantined_at", schema=S)
