"""``ingest.business_numbers`` and ``ingest.business_accounts``: what Meta last reported of
each sender number (quality rating, messaging limit, throughput level) and of each business
account (ban state, restrictions), from the ``phone_number_quality_update`` and
``account_update`` webhooks and from Meta's phone-number API; and the contract
``ingest.sender_health_v1()``, which the dispatcher reads to pace each number at the
throughput Meta reports and to keep business-initiated sends within the messaging limit.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.create_table(
        "business_numbers",
        sa.Column("waba_id", sa.Text, nullable=False),
        sa.Column("display_digits", sa.Text, nullable=False),
        sa.Column("phone_number_id", sa.Text, nullable=True),
        sa.Column("quality_rating", sa.Text, nullable=True),
        sa.Column("messaging_limit", sa.Text, nullable=True),
        sa.Column("throughput_level", sa.Text, nullable=True),
        sa.Column("last_event", sa.Text, nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("waba_id", "display_digits"),
        schema=S,
    )
    op.create_index(
        "business_numbers_phone_number_id",
        "business_numbers",
        ["phone_number_id"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("phone_number_id IS NOT NULL"),
    )
    op.create_table(
        "business_accounts",
        sa.Column("waba_id", sa.Text, primary_key=True),
        sa.Column("last_event", sa.Text, nullable=True),
        sa.Column("ban_state", sa.Text, nullable=True),
        sa.Column("restrictions", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("violation_type", sa.Text, nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("numbers_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("numbers_sync_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=S,
    )
    op.execute(
        """
        CREATE FUNCTION ingest.sender_health_v1()
        RETURNS TABLE (
            waba_id text, phone_number_id text, quality_rating text, messaging_limit text,
            throughput_level text, ban_state text, restrictions jsonb, updated_at timestamptz
        )
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT n.waba_id, n.phone_number_id, n.quality_rating, n.messaging_limit,
                   n.throughput_level, a.ban_state, coalesce(a.restrictions, '[]'::jsonb),
                   greatest(n.updated_at, a.updated_at)
              FROM ingest.business_numbers AS n
              LEFT JOIN ingest.business_accounts AS a ON a.waba_id = n.waba_id
             WHERE n.phone_number_id IS NOT NULL
            UNION ALL
            SELECT a.waba_id, NULL, NULL, NULL, NULL, a.ban_state, a.restrictions, a.updated_at
              FROM ingest.business_accounts AS a
             WHERE NOT EXISTS (
                   SELECT FROM ingest.business_numbers AS k
                    WHERE k.waba_id = a.waba_id AND k.phone_number_id IS NOT NULL)
        $$;
        COMMENT ON FUNCTION ingest.sender_health_v1() IS
            'Each sender number (phone_number_id) Meta reported, with its business account: '
            'quality rating (GREEN, YELLOW, RED, UNKNOWN), messaging limit tier (TIER_250, '
            'TIER_2K, ..., TIER_UNLIMITED; the business portfolio''s limit of unique users '
            'reached by business-initiated messages in a moving 24 h), throughput level '
            '(STANDARD, HIGH), and the account''s ban state and restrictions '
            '([{"type", "expiration"}]); NULL where Meta has not said. An account without '
            'a known number has one row with a NULL phone_number_id. Read by the dispatcher, '
            'which paces each number at the throughput Meta reports and holds '
            'business-initiated templates at the messaging limit.';
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION ingest.sender_health_v1()")
    op.drop_table("business_accounts", schema=S)
    op.drop_index("business_numbers_phone_number_id", "business_numbers", schema=S)
    op.drop_table("business_numbers", schema=S)
