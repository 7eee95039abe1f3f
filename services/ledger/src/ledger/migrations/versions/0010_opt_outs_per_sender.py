"""Opt-outs belong to a sender number: the rows kept for "every sender" (``*``) become rows
of the default sender.

Before this revision the ledger wrote ``*`` for Meta's 131050 on a notification that named
no sender, and suppressed marketing to the recipient from every tenant's numbers. Such a
notification was sent from ``WHATSAPP_PHONE_NUMBER_ID`` (the dispatcher's default), so that
number is the one the recipient opted out of: each ``*`` row moves there, merged with a row
the number may hold already (the later ``since`` and ``lifted_at`` win, as in the projection).
The rebuild baseline (``retired_suppressions``) moves the same way, so a rebuild agrees.
The migration reads ``WHATSAPP_PHONE_NUMBER_ID`` from the same environment as the services.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from notif_core.settings import CoreSettings

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

S = "ledger"
TABLES = ("suppressions", "retired_suppressions")


def upgrade() -> None:
    sender = CoreSettings().whatsapp_phone_number_id
    for table in TABLES:
        op.get_bind().execute(
            sa.text(
                f"""
                INSERT INTO {S}.{table}
                    (phone_number_id, recipient, scope, source, since, lifted_at)
                SELECT :sender, recipient, scope, source, since, lifted_at
                FROM {S}.{table} WHERE phone_number_id = '*'
                ON CONFLICT (phone_number_id, recipient, scope) DO UPDATE SET
                    since = GREATEST({table}.since, EXCLUDED.since),
                    lifted_at = GREATEST({table}.lifted_at, EXCLUDED.lifted_at)
                """  # noqa: S608 - fixed table names; the sender is a bound parameter
            ),
            {"sender": sender},
        )
        op.execute(f"DELETE FROM {S}.{table} WHERE phone_number_id = '*'")  # noqa: S608


def downgrade() -> None:
    """Nothing to undo: which rows were ``*`` is not kept, and rows of the default sender
    are what 0009's code reads for it too."""
