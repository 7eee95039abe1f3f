"""``ingest.inbound_messages`` and its contract ``ingest.inbound_messages_v1(sender, recipient_key)``.

An inbound mark keeps only the newest timestamp per recipient, and Meta's timestamps are
whole seconds: after the ledger had projected a customer's "hi", a "STOP" of the same second
looked projected too, and a send could go out before the ledger knew of the STOP. Ingest now
also records the event of every inbound message it acknowledges, under each identity the
message names (and the numbers a BSUID came with), so the dispatcher can ask whether the
ledger has stored each one (``ledger.stored_events_v1``, ledger migration 0012) instead of
comparing times. Rows are kept as long as marks (25 h).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("phone_number_id", sa.Text, primary_key=True),
        sa.Column("recipient_key", sa.Text, primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "marked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=S,
    )
    op.create_index("inbound_messages_by_age", "inbound_messages", ["marked_at"], schema=S)
    op.execute(
        """
        CREATE FUNCTION ingest.inbound_messages_v1(p_sender text, p_recipient_key text)
        RETURNS TABLE (event_id uuid, marked_at timestamptz)
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT m.event_id, m.marked_at FROM ingest.inbound_messages AS m
             WHERE m.phone_number_id = p_sender AND m.recipient_key = p_recipient_key
        $$;
        COMMENT ON FUNCTION ingest.inbound_messages_v1(text, text) IS
            'The event (message.inbound_received) of every inbound message ingest has '
            'acknowledged from this recipient (notif_core.identity.recipient_key) to this '
            'business number in the last 25 h, and when ingest committed it. The dispatcher '
            'waits for the ledger to have stored each recent one before trusting its '
            'windows and suppressions.';
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION ingest.inbound_messages_v1(text, text)")
    op.drop_index("inbound_messages_by_age", table_name="inbound_messages", schema=S)
    op.drop_table("inbound_messages", schema=S)
