"""``ingest.inbound``: every message a customer sent to a business number, stored with its
owner (the tenant holding the number) in the transaction that acknowledges Meta's webhook,
for ``GET /v1/inbound``; ``ingest.inbound_routes`` and ``tenants.inbound_callback_url``:
where a tenant receives its inbound messages, per sender number or for all its numbers.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.add_column("tenants", sa.Column("inbound_callback_url", sa.Text, nullable=True), schema=S)
    op.create_table(
        "inbound_routes",
        sa.Column("phone_number_id", sa.Text, primary_key=True),
        sa.Column(
            "tenant_id", UUID(as_uuid=True), sa.ForeignKey("ingest.tenants.id"), nullable=False
        ),
        sa.Column("callback_url", sa.Text, nullable=False),
        schema=S,
    )
    op.create_table(
        "inbound",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=True),
        sa.Column("phone_number_id", sa.Text, nullable=False),
        sa.Column("sender", sa.Text, nullable=True),
        sa.Column("user_id", sa.Text, nullable=True),
        sa.Column("wamid", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("content", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("context_wamid", sa.Text, nullable=True),
        sa.Column("profile_name", sa.Text, nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "stored_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        schema=S,
    )
    op.create_index(
        "inbound_by_tenant_time", "inbound", ["tenant_id", "received_at", "id"], schema=S
    )
    op.create_index("inbound_by_age", "inbound", ["stored_at"], schema=S)


def downgrade() -> None:
    op.drop_index("inbound_by_age", table_name="inbound", schema=S)
    op.drop_index("inbound_by_tenant_time", table_name="inbound", schema=S)
    op.drop_table("inbound", schema=S)
    op.drop_table("inbound_routes", schema=S)
    op.drop_column("tenants", "inbound_callback_url", schema=S)
