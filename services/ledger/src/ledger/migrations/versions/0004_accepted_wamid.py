"""``ledger.accepted_wamid(notification_id)``: the contract the dispatcher reads when it
takes over a send whose holder died.

Meta echoes ``biz_opaque_callback_data`` (our notification id) in every status webhook, so a
stored ``sent``, ``delivered``, ``read``, ``failed`` or ``usage.billed`` event naming the
notification and a wamid proves Meta accepted a message for it. The dispatcher calls this
function instead of reading the ledger's tables, so the ledger may change how it stores
events as long as the function keeps its answer: the wamid of the earliest such event (or
the one on the read model, linked from a parked status), NULL when none is known yet.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION ledger.accepted_wamid(p_notification_id uuid) RETURNS text
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT coalesce(
                (SELECT e.wamid FROM ledger.events AS e
                  WHERE e.notification_id = p_notification_id AND e.wamid IS NOT NULL
                  ORDER BY e.seq LIMIT 1),
                (SELECT n.wamid FROM ledger.notifications AS n WHERE n.id = p_notification_id)
            )
        $$;
        COMMENT ON FUNCTION ledger.accepted_wamid(uuid) IS
            'The wamid Meta gave a message for this notification, NULL if none is known: '
            'the contract the dispatcher reads before sending again after a lapsed claim.';
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION ledger.accepted_wamid(uuid)")
