"""``ingest.inbound_marks.user_id``: the business-scoped user id a number's messages came with.

A message that carries only the BSUID (a username user may stop sharing the number) moves
the marks of the numbers paired with it, so that a STOP sent that way holds sends to the
number as soon as ingest acknowledges it. ``ingest.inbound_mark_v1`` answers as before.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.add_column("inbound_marks", sa.Column("user_id", sa.Text, nullable=True), schema=S)
    op.create_index(
        "inbound_marks_by_user_id", "inbound_marks", ["phone_number_id", "user_id"], schema=S
    )


def downgrade() -> None:
    op.drop_index("inbound_marks_by_user_id", table_name="inbound_marks", schema=S)
    op.drop_column("inbound_marks", "user_id", schema=S)
