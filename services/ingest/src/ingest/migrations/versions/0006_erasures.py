"""``ingest.erasures``: who asked to erase whom, and when, naming no one.

The record a controller keeps of the erasures it carried out (GDPR Art. 5(2),
accountability): the person appears only as the pseudonym of their identity key
(``notif_core.erasure.pseudonym``). A tenant that erased someone may ask again and gets
``202`` again, as it would for any other idempotent request.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column(
            "requested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=S,
    )
    op.create_index("erasures_by_subject", "erasures", ["subject", "tenant_id"], schema=S)


def downgrade() -> None:
    op.drop_index("erasures_by_subject", table_name="erasures", schema=S)
    op.drop_table("erasures", schema=S)
