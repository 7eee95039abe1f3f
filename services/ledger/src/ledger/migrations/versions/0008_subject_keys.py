"""``ledger.subject_keys`` for crypto-shredding, and what erasure needs besides.

Events' personal fields are sealed under a data key per person (``ledger.sealing``);
erasing a person deletes their keys. Erasure finds a person's notifications by recipient,
hence the index. Events stored before sealing existed hold personal fields in clear: the
event store's guard lets an UPDATE through in a transaction that set ``ledger.erasure`` to
``on``, which only erasure does, to redact them (``ledger.erasure``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from ledger.migrations.event_store_guard import ERASURE_MAY_REDACT, guard

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

S = "ledger"


def upgrade() -> None:
    op.create_table(
        "subject_keys",
        sa.Column("kid", UUID(as_uuid=True), primary_key=True),
        sa.Column("subject", sa.Text, nullable=False, unique=True),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=S,
    )
    op.create_index("notifications_by_recipient", "notifications", ["recipient"], schema=S)
    op.execute(guard(ERASURE_MAY_REDACT))


def downgrade() -> None:
    op.execute(guard())
    op.drop_index("notifications_by_recipient", table_name="notifications", schema=S)
    op.drop_table("subject_keys", schema=S)
