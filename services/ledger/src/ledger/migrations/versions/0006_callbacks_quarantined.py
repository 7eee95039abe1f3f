"""``ledger.callbacks.state`` may be ``quarantined``: a callback that can never be sent (its
URL or body is unusable) is set aside with its reason class in ``last_error``, for
``notifctl quarantine`` to list, retry (back to ``pending``) or drop.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

S = "ledger"


def upgrade() -> None:
    op.drop_constraint("callbacks_state", "callbacks", schema=S, type_="check")
    op.create_check_constraint(
        "callbacks_state",
        "callbacks",
        "state IN ('pending', 'delivered', 'failed', 'quarantined')",
        schema=S,
    )
    op.create_index(
        "callbacks_quarantined",
        "callbacks",
        ["id"],
        schema=S,
        postgresql_where=sa.text("state = 'quarantined'"),
    )


def downgrade() -> None:
    op.drop_index("callbacks_quarantined", "callbacks", schema=S)
    op.execute(f"UPDATE {S}.callbacks SET state = 'failed' WHERE state = 'quarantined'")  # noqa: S608
    op.drop_constraint("callbacks_state", "callbacks", schema=S, type_="check")
    op.create_check_constraint(
        "callbacks_state", "callbacks", "state IN ('pending', 'delivered', 'failed')", schema=S
    )
