"""What notifctl does in the ledger's schema through SQL, the only module of notifctl that names
it: the functions the ledger publishes for the operator (ledger migration 0011), never its
tables. (``notifctl ledger`` runs the ledger's own code: rebuild, verify, purge.)
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import text

QUARANTINE_LIST: Final = text(
    "SELECT id, reason, since, notification_id AS nid, body FROM ledger.quarantine_list_v1(:limit)"
)
"""Events-queue messages the ledger set aside, oldest first."""
QUARANTINE_HOLD: Final = text("SELECT queue, body FROM ledger.quarantine_hold_v1(:id)")
"""Lock set-aside message ``:id`` for the transaction: its queue and body, or no row."""
QUARANTINE_DROP: Final = text("SELECT ledger.quarantine_drop_v1(:id)")
"""Delete set-aside message ``:id``; true if there was one."""
CALLBACK_QUARANTINE_LIST: Final = text(
    "SELECT id, reason, since, notification_id AS nid, body "
    "FROM ledger.callback_quarantine_list_v1(:limit)"
)
"""Status callbacks that can never be sent, oldest first."""
CALLBACK_QUARANTINE_RETRY: Final = text("SELECT ledger.callback_quarantine_retry_v1(:id)")
"""Make quarantined callback ``:id`` pending and due now; true if there was one."""
CALLBACK_QUARANTINE_DROP: Final = text("SELECT ledger.callback_quarantine_drop_v1(:id)")
"""End quarantined callback ``:id`` failed; true if there was one."""
