"""What purged events contributed to the read models that outlive them: the rebuild's
baseline (see ``ledger.retention``).

``retired_usage`` counts the billed messages of purged notifications (usage is billing
history and must survive); ``retired_suppressions`` and ``retired_aliases`` hold the opt-out
and identity rows old events made, so that a rebuild after a purge still suppresses everyone
who wrote STOP. Each has its live twin's columns and key.

The event store's guard still refuses every UPDATE, TRUNCATE and DELETE, except a DELETE in
a transaction that set ``ledger.retention_purge`` to ``on`` (``set_config(…, true)``, so it
ends with the transaction): the retention purge's, and the erasure's UPDATE of 0008.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from ledger.migrations.event_store_guard import ERASURE_MAY_REDACT, PURGE_MAY_DELETE, guard

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

S = "ledger"


def upgrade() -> None:
    op.create_table(
        "retired_usage",
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("billable", sa.Boolean, nullable=False),
        sa.Column("country", sa.Text, nullable=False),
        sa.Column("messages", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "day", "category", "billable", "country"),
        schema=S,
    )
    op.create_table(
        "retired_suppressions",
        sa.Column("phone_number_id", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("phone_number_id", "recipient", "scope"),
        schema=S,
    )
    op.create_table(
        "retired_aliases",
        sa.Column("alias", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("alias"),
        schema=S,
    )
    op.execute(guard(ERASURE_MAY_REDACT, PURGE_MAY_DELETE))


def downgrade() -> None:
    op.execute(guard(ERASURE_MAY_REDACT))
    for table in ("retired_aliases", "retired_suppressions", "retired_usage"):
        op.drop_table(table, schema=S)
