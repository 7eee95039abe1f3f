"""What a dispatcher taking over a lapsed claim needs to know before sending again.

- ``attempt_started_at``: when the current holder claimed, the earliest moment it may have
  called Meta.
- ``may_have_sent``: the holder claimed in order to call Meta (false while a holder only
  waits for Meta's statuses of an earlier attempt).
- ``unconfirmed_since``: an earlier attempt that may have reached Meta without its answer
  being recorded started then; nobody sends again until Meta's statuses show it, or
  ``TAKEOVER_GRACE_SECONDS`` after that time passed without any.

Rows claimed during the upgrade count as holders that may have called Meta.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "dispatcher"


def upgrade() -> None:
    op.add_column("claims", sa.Column("attempt_started_at", sa.DateTime(timezone=True)), schema=S)
    op.add_column(
        "claims",
        sa.Column("may_have_sent", sa.Boolean, nullable=False, server_default=sa.false()),
        schema=S,
    )
    op.add_column("claims", sa.Column("unconfirmed_since", sa.DateTime(timezone=True)), schema=S)
    op.execute(
        "UPDATE dispatcher.claims SET attempt_started_at = updated_at, may_have_sent = true "
        "WHERE state = 'claimed'"
    )


def downgrade() -> None:
    for column in ("unconfirmed_since", "may_have_sent", "attempt_started_at"):
        op.drop_column("claims", column, schema=S)
