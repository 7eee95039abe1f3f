"""The dispatcher's published contracts: what ingest and the operator may do with its schema.

- ``dispatcher.end_unclaimed_v1(notification_id, state)``: the one statement that ends a
  notification nobody holds (``cancelled``, ``expired``, ``failed`` before any send). A
  dispatcher claims only a missing, ``released`` or lapsed row, and this ends only a missing
  or ``released`` one, so whichever commits first wins: a cancelled notification is never
  sent. The dispatch gate calls it for ``expired`` and ``failed``;
- ``dispatcher.cancel_v1(notification_id)``: the same for ``cancelled``, which ingest calls
  in the transaction that writes its ``notification.cancelled`` event;
- ``dispatcher.cancelled_v1()``: the notifications the gate holds ``cancelled``, which
  ingest's read model shows before the ledger has projected the cancel;
- ``dispatcher.quarantine_list_v1``, ``_hold_v1``, ``_drop_v1``, ``_erase_v1``: what
  ``notifctl quarantine`` and ``notifctl recipients erase`` do with set-aside messages.

Functions in SQL without ``STRICT`` or ``SECURITY DEFINER`` are inlined into the caller's
statement, so a reader's query keeps the plan (and the indexes) of reading the table itself.
A changed answer gets a ``_v2`` beside the first, so both versions of a reader run during a
rollout.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_CONTRACTS = """
CREATE FUNCTION dispatcher.end_unclaimed_v1(p_notification_id uuid, p_state text)
RETURNS TABLE (won boolean, state text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_state text;
BEGIN
    IF p_state IS NULL OR p_state NOT IN ('cancelled', 'expired', 'failed') THEN
        RAISE EXCEPTION 'not an end before sending: %', p_state USING ERRCODE = '22023';
    END IF;
    INSERT INTO dispatcher.claims AS c (notification_id, state, updated_at)
    VALUES (p_notification_id, p_state, now())
    ON CONFLICT (notification_id) DO UPDATE
        SET state = EXCLUDED.state, owner = NULL, lease_until = NULL, updated_at = now()
        WHERE c.state = 'released'
    RETURNING c.state INTO v_state;
    IF FOUND THEN
        RETURN QUERY SELECT true, v_state;
        RETURN;
    END IF;
    SELECT c.state INTO v_state FROM dispatcher.claims AS c
     WHERE c.notification_id = p_notification_id;
    RETURN QUERY SELECT false, v_state;
END
$$;
COMMENT ON FUNCTION dispatcher.end_unclaimed_v1(uuid, text) IS
    'Ends a notification nobody holds (cancelled, expired, or failed before any send): '
    'inserts the state, or turns a released row into it. won: this call decided it; state: '
    'what the dispatch gate holds now. A dispatcher claims only a missing, released or lapsed '
    'row, so whichever commits first wins and an ended notification is never sent. Called by '
    'the dispatch gate, and by ingest through cancel_v1.';

CREATE FUNCTION dispatcher.cancel_v1(p_notification_id uuid)
RETURNS TABLE (won boolean, state text)
LANGUAGE sql VOLATILE AS $$
    SELECT e.won, e.state FROM dispatcher.end_unclaimed_v1(p_notification_id, 'cancelled') AS e
$$;
COMMENT ON FUNCTION dispatcher.cancel_v1(uuid) IS
    'Cancels a notification unless a dispatcher holds, sent or ended it: won is true when this '
    'call cancelled it, state is what the dispatch gate holds now (cancelled: cancelled now '
    'or before). Once it commits cancelled the notification is never sent. Called by ingest '
    'in the transaction that writes its notification.cancelled event.';

CREATE FUNCTION dispatcher.cancelled_v1()
RETURNS TABLE (notification_id uuid, cancelled_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT c.notification_id, c.updated_at FROM dispatcher.claims AS c
     WHERE c.state = 'cancelled'
$$;
COMMENT ON FUNCTION dispatcher.cancelled_v1() IS
    'Notifications the dispatch gate holds cancelled (they are never sent), with the time the '
    'cancel won. Read by ingest, joined by notification_id (inlined: the gate''s primary key '
    'serves it), to show a cancel before the ledger projects it.';

CREATE FUNCTION dispatcher.quarantine_list_v1(p_limit integer)
RETURNS TABLE (id bigint, reason text, since timestamptz, notification_id uuid, body text)
LANGUAGE sql STABLE AS $$
    SELECT q.id, q.reason, q.created_at, q.notification_id, q.body FROM dispatcher.quarantine AS q
     ORDER BY q.created_at, q.id LIMIT p_limit
$$;
COMMENT ON FUNCTION dispatcher.quarantine_list_v1(integer) IS
    'Messages the dispatcher set aside, oldest first: their reason class, when, the '
    'notification they name and the stored body. Read by notifctl quarantine list.';

CREATE FUNCTION dispatcher.quarantine_hold_v1(p_id bigint)
RETURNS TABLE (queue text, body text)
LANGUAGE sql VOLATILE AS $$
    SELECT q.queue, q.body FROM dispatcher.quarantine AS q WHERE q.id = p_id FOR UPDATE
$$;
COMMENT ON FUNCTION dispatcher.quarantine_hold_v1(bigint) IS
    'Holds a set-aside message until the caller''s transaction ends (a row lock) and answers '
    'the queue it was taken from and its body; no row: none with that id. notifctl '
    'quarantine retry sends the body back, then drops the row in the same transaction.';

CREATE FUNCTION dispatcher.quarantine_drop_v1(p_id bigint) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    WITH gone AS (DELETE FROM dispatcher.quarantine AS q WHERE q.id = p_id RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM gone)
$$;
COMMENT ON FUNCTION dispatcher.quarantine_drop_v1(bigint) IS
    'Gives a set-aside message up for good; false when there was none with that id. Called '
    'by notifctl quarantine drop.';

CREATE FUNCTION dispatcher.quarantine_erase_v1(p_forms text[]) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    WITH gone AS (
        DELETE FROM dispatcher.quarantine AS q
         WHERE EXISTS (SELECT 1 FROM unnest(p_forms) AS f
                        WHERE strpos(q.body, '"' || f || '"') > 0)
        RETURNING 1
    )
    SELECT count(*) FROM gone
$$;
COMMENT ON FUNCTION dispatcher.quarantine_erase_v1(text[]) IS
    'Deletes the set-aside messages that quote any of these forms of a person as a whole '
    'JSON string, and counts them. Called by notifctl recipients erase (GDPR Art. 17).';
"""
_FUNCTIONS = (
    "end_unclaimed_v1(uuid, text)",
    "cancel_v1(uuid)",
    "cancelled_v1()",
    "quarantine_list_v1(integer)",
    "quarantine_hold_v1(bigint)",
    "quarantine_drop_v1(bigint)",
    "quarantine_erase_v1(text[])",
)


def upgrade() -> None:
    op.execute(_CONTRACTS)


def downgrade() -> None:
    for signature in reversed(_FUNCTIONS):
        op.execute(f"DROP FUNCTION dispatcher.{signature}")
