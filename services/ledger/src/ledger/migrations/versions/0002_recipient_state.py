"""Read models the dispatcher checks before sending: 24h windows and the suppression list.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "ledger"


def upgrade() -> None:
    op.create_table(
        "windows",
        sa.Column("phone_number_id", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone_number_id", "recipient"),
        schema=S,
    )
    op.create_table(
        "suppressions",
        sa.Column("phone_number_id", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("phone_number_id", "recipient", "scope"),
        sa.CheckConstraint("scope IN ('all', 'marketing')", name="suppressions_scope"),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("suppressions", schema=S)
    op.drop_table("windows", schema=S)
