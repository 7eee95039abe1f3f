"""``ledger.stored_events_v1()``: which events the ledger has stored, and so projected.

The ledger appends an event and projects it in one transaction, so an event found here is
in the read models. The dispatcher reads it with ingest's ``inbound_messages_v1`` (ingest
migration 0008): an inbound message ingest acknowledged whose event is not here yet may be
a STOP the suppressions do not show yet. Inlined into the reader's statement, a lookup by
``event_id`` is a probe of its unique index.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION ledger.stored_events_v1()
        RETURNS TABLE (event_id uuid)
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT e.event_id FROM ledger.events AS e
        $$;
        COMMENT ON FUNCTION ledger.stored_events_v1() IS
            'The id of every event the ledger has stored: appended and projected in one '
            'transaction, so an event found here is in the read models. Read by the '
            'dispatcher to tell whether an inbound message ingest acknowledged is projected.';
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION ledger.stored_events_v1()")
