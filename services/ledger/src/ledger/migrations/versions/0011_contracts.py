"""The ledger's published contracts: every read of its schema by ingest, the dispatcher or the
operator goes through one of these, never through its tables.

For ingest's API (read model, history, callbacks, usage, the suppression list):
``ledger.notification_status_v1()``, ``ledger.notification_history_v1(notification_id)``,
``ledger.callback_deliveries_v1()``, ``ledger.usage_v1()``, ``ledger.opt_outs_v1()``.
For the dispatcher's checks before a send: ``ledger.opt_outs_v1()``, ``ledger.windows_v1()``,
``ledger.recipient_aliases_v1()``, and ``ledger.accepted_wamid_v1(notification_id)`` (the
answer of ``ledger.accepted_wamid`` of migration 0004, which stays for dispatchers of the
previous version). For ``notifctl quarantine``: ``ledger.quarantine_list_v1``, ``_hold_v1``,
``_drop_v1`` and ``ledger.callback_quarantine_list_v1``, ``_retry_v1``, ``_drop_v1``.

They are SQL functions rather than views because a rebuild swaps the read-model tables
(``DROP TABLE`` and ``SET SCHEMA``): a view would stay bound to the table it was created on
and forbid the drop, while a function's body is resolved when it runs. A set-returning
function in SQL, ``STABLE`` and without ``STRICT`` or ``SECURITY DEFINER``, is inlined into
the caller's statement, so a reader filtering ``notification_status_v1()`` by id gets the
same index scan as on the table. A changed answer gets a ``_v2`` beside the first.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_CONTRACTS = """
CREATE FUNCTION ledger.notification_status_v1()
RETURNS TABLE (id uuid, status text, wamid text, last_error jsonb, attempts integer,
               updated_at timestamptz, pricing_category text, billable boolean,
               pricing_model text, accepted_at timestamptz, scheduled_at timestamptz,
               sent_at timestamptz, delivered_at timestamptz, read_at timestamptz,
               failed_at timestamptz, expired_at timestamptz, cancelled_at timestamptz,
               suppressed_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT n.id, n.status, n.wamid, n.last_error, n.attempts, n.updated_at,
           n.pricing_category, n.billable, n.pricing_model, n.accepted_at, n.scheduled_at,
           n.sent_at, n.delivered_at, n.read_at, n.failed_at, n.expired_at, n.cancelled_at,
           n.suppressed_at
      FROM ledger.notifications AS n
$$;
COMMENT ON FUNCTION ledger.notification_status_v1() IS
    'Every notification the ledger has projected: its status (monotonic, terminal statuses '
    'final), a timestamp per status, wamid, last error, attempts and Meta''s pricing. No row: '
    'the ledger has not seen it yet. Read by ingest, joined by id (inlined: the primary key '
    'serves it), for GET and the list of notifications and for erasure.';

CREATE FUNCTION ledger.notification_history_v1(p_notification_id uuid)
RETURNS TABLE (seq bigint, event_id uuid, type text, occurred_at timestamptz,
               recorded_at timestamptz, data jsonb)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT e.seq, e.event_id, e.type, e.occurred_at, e.recorded_at, e.body->'payload'
      FROM ledger.events AS e WHERE e.notification_id = p_notification_id
    UNION ALL
    SELECT e.seq, e.event_id, e.type, e.occurred_at, e.recorded_at, e.body->'payload'
      FROM ledger.notifications AS l
      JOIN ledger.events AS e ON e.wamid = l.wamid AND e.notification_id IS NULL
     WHERE l.id = p_notification_id
$$;
COMMENT ON FUNCTION ledger.notification_history_v1(uuid) IS
    'The stored events of a notification: those that named it, and Meta''s statuses that '
    'named only its wamid; seq orders them as stored. data is the event''s payload as '
    'stored (sealed fields of an erased person read back redacted). Read by ingest for '
    'GET /v1/notifications/{id}.';

CREATE FUNCTION ledger.callback_deliveries_v1()
RETURNS TABLE (id bigint, tenant_id uuid, notification_id uuid, event_id uuid, status text,
               url text, state text, attempts integer, last_status_code integer,
               last_error text, next_attempt_at timestamptz, created_at timestamptz,
               delivered_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT c.id, c.tenant_id, c.notification_id, c.event_id, c.body->>'status', c.url,
           c.state, c.attempts, c.last_status_code, c.last_error, c.next_attempt_at,
           c.created_at, c.delivered_at
      FROM ledger.callbacks AS c
$$;
COMMENT ON FUNCTION ledger.callback_deliveries_v1() IS
    'Status callbacks owed to tenants and how their delivery went (state pending, '
    'delivered, failed or quarantined; last_error is a class, never exception text); a '
    'larger id is a later callback. Read by ingest for the callbacks API.';

CREATE FUNCTION ledger.usage_v1()
RETURNS TABLE (tenant_id uuid, day date, category text, billable boolean, country text,
               messages bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT u.tenant_id, u.day, u.category, u.billable, u.country, u.messages
      FROM ledger.usage AS u
$$;
COMMENT ON FUNCTION ledger.usage_v1() IS
    'Messages Meta priced, per tenant, UTC day, pricing category, billable flag and '
    'country; each message counted once. Read by ingest for usage reports.';

CREATE FUNCTION ledger.opt_outs_v1()
RETURNS TABLE (phone_number_id text, recipient text, scope text, source text,
               since timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT s.phone_number_id, s.recipient, s.scope, s.source, s.since
      FROM ledger.suppressions AS s
     WHERE s.since IS NOT NULL AND (s.lifted_at IS NULL OR s.since > s.lifted_at)
$$;
COMMENT ON FUNCTION ledger.opt_outs_v1() IS
    'Opt-outs in force, per sender number (never a row for every sender), recipient_key '
    '(or its pseudonym once erased) and scope (all, or marketing only): the latest opt-out '
    'is later than the latest opt-in, whatever order they arrived in. Read by the dispatcher '
    'before every send and by ingest for the suppression list.';

CREATE FUNCTION ledger.windows_v1()
RETURNS TABLE (phone_number_id text, recipient text, last_inbound_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT w.phone_number_id, w.recipient, w.last_inbound_at FROM ledger.windows AS w
$$;
COMMENT ON FUNCTION ledger.windows_v1() IS
    'The latest inbound message the ledger has projected per sender number and '
    'recipient_key (Meta''s timestamp of it): the 24h customer-service window. It trails '
    'ingest''s inbound_mark_v1 by the projection lag. Read by the dispatcher before a send.';

CREATE FUNCTION ledger.recipient_aliases_v1()
RETURNS TABLE (alias text, key text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT a.alias, a.key FROM ledger.recipient_aliases AS a
$$;
COMMENT ON FUNCTION ledger.recipient_aliases_v1() IS
    'Other forms of a recipient (the number a client dialled, a BSUID) and the identity key '
    'they name the same person under. Read by the dispatcher to find ingest''s marks of '
    'every form of a recipient.';

CREATE FUNCTION ledger.accepted_wamid_v1(p_notification_id uuid) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        (SELECT e.wamid FROM ledger.events AS e
          WHERE e.notification_id = p_notification_id AND e.wamid IS NOT NULL
          ORDER BY e.seq LIMIT 1),
        (SELECT n.wamid FROM ledger.notifications AS n WHERE n.id = p_notification_id)
    )
$$;
COMMENT ON FUNCTION ledger.accepted_wamid_v1(uuid) IS
    'The wamid Meta gave a message for this notification, NULL if none is known: Meta '
    'echoes the notification id in every status. Read by the dispatcher before sending again '
    'after a lapsed claim or a lost answer.';

CREATE FUNCTION ledger.quarantine_list_v1(p_limit integer)
RETURNS TABLE (id bigint, reason text, since timestamptz, notification_id uuid, body text)
LANGUAGE sql STABLE AS $$
    SELECT q.id, q.reason, q.created_at, q.notification_id, q.body FROM ledger.quarantine AS q
     ORDER BY q.created_at, q.id LIMIT p_limit
$$;
COMMENT ON FUNCTION ledger.quarantine_list_v1(integer) IS
    'Events-queue messages the ledger set aside, oldest first: reason class, when, the '
    'notification they name and the stored body. Read by notifctl quarantine list.';

CREATE FUNCTION ledger.quarantine_hold_v1(p_id bigint)
RETURNS TABLE (queue text, body text)
LANGUAGE sql VOLATILE AS $$
    SELECT q.queue, q.body FROM ledger.quarantine AS q WHERE q.id = p_id FOR UPDATE
$$;
COMMENT ON FUNCTION ledger.quarantine_hold_v1(bigint) IS
    'Holds a set-aside message until the caller''s transaction ends (a row lock) and answers '
    'the queue it was taken from and its body; no row: none with that id. notifctl '
    'quarantine retry sends the body back, then drops the row in the same transaction.';

CREATE FUNCTION ledger.quarantine_drop_v1(p_id bigint) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    WITH gone AS (DELETE FROM ledger.quarantine AS q WHERE q.id = p_id RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM gone)
$$;
COMMENT ON FUNCTION ledger.quarantine_drop_v1(bigint) IS
    'Gives a set-aside message up for good; false when there was none with that id. Called '
    'by notifctl quarantine drop.';

CREATE FUNCTION ledger.callback_quarantine_list_v1(p_limit integer)
RETURNS TABLE (id bigint, reason text, since timestamptz, notification_id uuid, body text)
LANGUAGE sql STABLE AS $$
    SELECT c.id, split_part(coalesce(c.last_error, ''), ':', 1), c.next_attempt_at,
           c.notification_id, c.body::text
      FROM ledger.callbacks AS c WHERE c.state = 'quarantined'
     ORDER BY c.id LIMIT p_limit
$$;
COMMENT ON FUNCTION ledger.callback_quarantine_list_v1(integer) IS
    'Status callbacks that can never be sent (their URL or body), oldest first: reason '
    'class, when they were set aside, notification and body. Read by notifctl quarantine '
    'list.';

CREATE FUNCTION ledger.callback_quarantine_retry_v1(p_id bigint) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    WITH due AS (
        UPDATE ledger.callbacks AS c SET state = 'pending', next_attempt_at = now()
         WHERE c.id = p_id AND c.state = 'quarantined' RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM due)
$$;
COMMENT ON FUNCTION ledger.callback_quarantine_retry_v1(bigint) IS
    'Makes a quarantined callback pending and due now; false when no quarantined callback '
    'has that id. Called by notifctl quarantine retry.';

CREATE FUNCTION ledger.callback_quarantine_drop_v1(p_id bigint) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    WITH ended AS (
        UPDATE ledger.callbacks AS c SET state = 'failed'
         WHERE c.id = p_id AND c.state = 'quarantined' RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM ended)
$$;
COMMENT ON FUNCTION ledger.callback_quarantine_drop_v1(bigint) IS
    'Ends a quarantined callback failed, never to be sent; false when no quarantined '
    'callback has that id. Called by notifctl quarantine drop.';
"""
_FUNCTIONS = (
    "notification_status_v1()",
    "notification_history_v1(uuid)",
    "callback_deliveries_v1()",
    "usage_v1()",
    "opt_outs_v1()",
    "windows_v1()",
    "recipient_aliases_v1()",
    "accepted_wamid_v1(uuid)",
    "quarantine_list_v1(integer)",
    "quarantine_hold_v1(bigint)",
    "quarantine_drop_v1(bigint)",
    "callback_quarantine_list_v1(integer)",
    "callback_quarantine_retry_v1(bigint)",
    "callback_quarantine_drop_v1(bigint)",
)


def upgrade() -> None:
    op.execute(_CONTRACTS)


def downgrade() -> None:
    for signature in reversed(_FUNCTIONS):
        op.execute(f"DROP FUNCTION ledger.{signature}")
