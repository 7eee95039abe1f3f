"""Ingest's published contracts besides ``inbound_mark_v1`` (migration 0004): what the ledger
and the operator may read or do in ingest's schema.

- ``ingest.callback_secrets_v1()``: the callback secrets in force per tenant, which the
  ledger's callback deliverer signs with (ingest's API creates and rotates them);
- ``ingest.quarantine_list_v1``, ``_retry_v1``, ``_drop_v1``: the outbox rows the relay set
  aside, for ``notifctl quarantine``.

A set-returning function in SQL, ``STABLE`` and without ``STRICT`` or ``SECURITY DEFINER``,
is inlined into the caller's statement, so the deliverer's filter by tenant reaches the
table's index as before. A changed answer gets a ``_v2`` beside the first.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_CONTRACTS = """
CREATE FUNCTION ingest.callback_secrets_v1()
RETURNS TABLE (tenant_id uuid, secret text, created_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT s.tenant_id, s.secret, s.created_at FROM ingest.callback_secrets AS s
     WHERE s.expires_at IS NULL OR s.expires_at > now()
$$;
COMMENT ON FUNCTION ingest.callback_secrets_v1() IS
    'The secrets in force that sign a tenant''s status callbacks (several during a '
    'rotation), with when each was created. Read by the ledger''s callback deliverer, '
    'filtered by tenant_id (inlined: the table''s index by tenant serves it).';

CREATE FUNCTION ingest.quarantine_list_v1(p_limit integer)
RETURNS TABLE (id bigint, reason text, since timestamptz, notification_id uuid, body text)
LANGUAGE sql STABLE AS $$
    SELECT o.id, o.quarantine_reason, o.quarantined_at, NULL::uuid, o.body
      FROM ingest.outbox AS o WHERE o.quarantined_at IS NOT NULL
     ORDER BY o.quarantined_at, o.id LIMIT p_limit
$$;
COMMENT ON FUNCTION ingest.quarantine_list_v1(integer) IS
    'Outbox rows the relay set aside (a body no parser takes, or one SQS refuses for good), '
    'oldest first: reason class, when, and the stored body (notification_id is always NULL: '
    'it is inside the body). Read by notifctl quarantine list.';

CREATE FUNCTION ingest.quarantine_retry_v1(p_id bigint) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    WITH due AS (
        UPDATE ingest.outbox AS o
           SET quarantined_at = NULL, quarantine_reason = NULL, available_at = now()
         WHERE o.id = p_id AND o.quarantined_at IS NOT NULL RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM due)
$$;
COMMENT ON FUNCTION ingest.quarantine_retry_v1(bigint) IS
    'Makes a set-aside outbox row due again for the relay; false when no set-aside row has '
    'that id. Called by notifctl quarantine retry.';

CREATE FUNCTION ingest.quarantine_drop_v1(p_id bigint) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    WITH gone AS (
        DELETE FROM ingest.outbox AS o WHERE o.id = p_id AND o.quarantined_at IS NOT NULL
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM gone)
$$;
COMMENT ON FUNCTION ingest.quarantine_drop_v1(bigint) IS
    'Gives a set-aside outbox row up for good; false when no set-aside row has that id. '
    'Called by notifctl quarantine drop.';
"""
_FUNCTIONS = (
    "callback_secrets_v1()",
    "quarantine_list_v1(integer)",
    "quarantine_retry_v1(bigint)",
    "quarantine_drop_v1(bigint)",
)


def upgrade() -> None:
    op.execute(_CONTRACTS)


def downgrade() -> None:
    for signature in reversed(_FUNCTIONS):
        op.execute(f"DROP FUNCTION ingest.{signature}")
