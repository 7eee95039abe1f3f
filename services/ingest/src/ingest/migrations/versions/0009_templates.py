"""``ingest.templates`` and ``ingest.template_catalogues``: each business account's template
catalogue, synced from Meta, against which template sends are checked before they are
accepted.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("waba_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("language", sa.Text, nullable=False),
        sa.Column("meta_id", sa.Text, nullable=True),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("parameter_format", sa.Text, nullable=False, server_default="POSITIONAL"),
        sa.Column("components", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("waba_id", "name", "language"),
        schema=S,
    )
    op.create_table(
        "template_catalogues",
        sa.Column("waba_id", sa.Text, primary_key=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("templates", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sync_requested_at", sa.DateTime(timezone=True), nullable=True),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("template_catalogues", schema=S)
    op.drop_table("templates", schema=S)
