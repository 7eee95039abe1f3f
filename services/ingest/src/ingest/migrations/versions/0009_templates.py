"""``ingest.templates`` and ``ingest.template_catalogues``: each business account's template
catalogue, synced from Meta, against which template sends are checked before they are
accepted; and the contract ``ingest.unsendable_templates_v1()``, the templates Meta would
not send now, which the dispatcher reads to hold (or fail) notifications already queued.

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
    op.execute(
        """
        CREATE FUNCTION ingest.unsendable_templates_v1()
        RETURNS TABLE (waba_id text, name text, language text, status text)
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT t.waba_id, t.name, t.language, t.status FROM ingest.templates AS t
             WHERE t.status <> 'APPROVED'
        $$;
        COMMENT ON FUNCTION ingest.unsendable_templates_v1() IS
            'Every template whose status, as Meta last reported it (catalogue sync or '
            'message_template_status_update webhook), is not APPROVED: PAUSED, DISABLED, '
            'REJECTED, PENDING, IN_APPEAL and the like. Read by the dispatcher, which holds '
            'or fails queued notifications of these templates; one that becomes APPROVED '
            'again leaves this set at once.';
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION ingest.unsendable_templates_v1()")
    op.drop_table("template_catalogues", schema=S)
    op.drop_table("templates", schema=S)
