"""``ledger.subject_keys`` for crypto-shredding, and what erasure needs besides.

Events' personal fields are sealed under a data key per person (``ledger.sealing``);
erasing a person deletes their keys. Erasure finds a person's notifications by recipient,
hence the index. Events stored before sealing existed hold personal fields in clear: the
event store's guard lets an UPDATE through in a transaction that set ``ledger.erasure`` to
``on``, which only erasure does, to redact them (``ledger.erasure``).

Two contracts for ingest, which erases its own rows of the same person:
``ledger.person_forms_v1(forms)`` is every form the ledger links to the given ones (aliases
both ways, transitively: a BSUID and its number, a number and the one it changed to), and
``ledger.person_known_v1(keys, senders)`` says whether any of those senders holds a window
or an opt-out of them.

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
_CONTRACTS = """
CREATE FUNCTION ledger.person_forms_v1(p_forms text[]) RETURNS TABLE (form text)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE aliases AS (
        SELECT alias, key FROM ledger.recipient_aliases
    ), linked(form) AS (
        SELECT unnest(p_forms)
        UNION
        SELECT CASE WHEN a.alias = l.form THEN a.key ELSE a.alias END
          FROM linked AS l JOIN aliases AS a ON a.alias = l.form OR a.key = l.form
    )
    SELECT form FROM linked
$$;
COMMENT ON FUNCTION ledger.person_forms_v1(text[]) IS
    'Every recipient form the ledger links to the given ones (recipient_aliases, both ways, '
    'transitively). Read by ingest when it erases a person.';
CREATE FUNCTION ledger.person_known_v1(p_keys text[], p_senders text[]) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM ledger.windows
                    WHERE recipient = ANY(p_keys) AND phone_number_id = ANY(p_senders))
        OR EXISTS (SELECT 1 FROM ledger.suppressions
                    WHERE recipient = ANY(p_keys) AND source IN ('keyword', 'meta_error')
                      AND (phone_number_id = ANY(p_senders) OR phone_number_id = '*'))
$$;
COMMENT ON FUNCTION ledger.person_known_v1(text[], text[]) IS
    'Whether these senders hold a window, or an opt-out the person gave (a keyword, '
    'Meta''s 131050), of any of these identity keys or pseudonyms. Read by ingest to '
    'decide which tenants know a person.';
"""


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
    op.execute(_CONTRACTS)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION ledger.person_forms_v1(text[]); "
        "DROP FUNCTION ledger.person_known_v1(text[], text[]);"
    )
    op.execute(guard())
    op.drop_index("notifications_by_recipient", table_name="notifications", schema=S)
    op.drop_table("subject_keys", schema=S)
