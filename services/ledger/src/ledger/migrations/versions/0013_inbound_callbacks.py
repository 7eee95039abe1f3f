"""``ledger.callbacks`` also carries inbound messages to their tenant: such a row names no
notification (``notification_id`` NULL), its ``event_id`` is the ``message.inbound_received``
event's, so a message Meta delivers twice is called back once.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("callbacks", "notification_id", nullable=True, schema="ledger")


def downgrade() -> None:
    op.execute("DELETE FROM ledger.callbacks WHERE notification_id IS NULL")
    op.alter_column("callbacks", "notification_id", nullable=False, schema="ledger")
