"""Per-tenant secrets that sign status callbacks, rotatable with an overlap.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import secrets
import uuid

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.create_table(
        "callback_secrets",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "tenant_id", UUID(as_uuid=True), sa.ForeignKey(f"{S}.tenants.id"), nullable=False
        ),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        schema=S,
    )
    op.create_index("callback_secrets_by_tenant", "callback_secrets", ["tenant_id"], schema=S)
    # Tenants created before this revision get their first secret now.
    bind = op.get_bind()
    for (tenant_id,) in bind.execute(sa.text("SELECT id FROM ingest.tenants")):
        bind.execute(
            sa.text(
                "INSERT INTO ingest.callback_secrets (id, tenant_id, secret) "
                "VALUES (:id, :tenant, :secret)"
            ),
            {"id": uuid.uuid4(), "tenant": tenant_id, "secret": f"whsec_{secrets.token_hex(32)}"},
        )


def downgrade() -> None:
    op.drop_table("callback_secrets", schema=S)
