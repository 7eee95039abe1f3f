"""``ingest.inbound_marks`` and its contract ``ingest.inbound_mark_v1(sender, recipient_key)``.

Ingest marks the newest inbound message per (business number, recipient identity) in the
webhook's own transaction, before Meta gets its 200. The ledger learns the same message
later (outbox relay, events queue, projection); the dispatcher reads this mark through the
function so that neither its 24h window check nor its opt-out check trusts a read model that
has not caught up. The function is the contract: the table may change as long as
``inbound_mark_v1`` keeps its answer (a new answer gets a ``_v2`` beside it).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.create_table(
        "inbound_marks",
        sa.Column("phone_number_id", sa.Text, primary_key=True),
        sa.Column("recipient_key", sa.Text, primary_key=True),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "marked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=S,
    )
    op.create_index("inbound_marks_by_age", "inbound_marks", ["marked_at"], schema=S)
    op.execute(
        """
        CREATE FUNCTION ingest.inbound_mark_v1(p_sender text, p_recipient_key text)
        RETURNS TABLE (last_inbound_at timestamptz, marked_at timestamptz)
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT m.last_inbound_at, m.marked_at FROM ingest.inbound_marks AS m
             WHERE m.phone_number_id = p_sender AND m.recipient_key = p_recipient_key
        $$;
        COMMENT ON FUNCTION ingest.inbound_mark_v1(text, text) IS
            'The newest inbound message ingest has acknowledged from this recipient '
            '(notif_core.identity.recipient_key) to this business number: Meta''s timestamp '
            'of it and when ingest committed it (marks are kept 25 h). The contract '
            'the dispatcher reads before trusting the ledger''s windows and suppressions.';
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION ingest.inbound_mark_v1(text, text)")
    op.drop_index("inbound_marks_by_age", table_name="inbound_marks", schema=S)
    op.drop_table("inbound_marks", schema=S)
