"""What notifctl does in the dispatcher's schema, the only module of notifctl that names it: the
functions the dispatcher publishes for the operator (dispatcher migration 0004), never its
tables.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import text

QUARANTINE_LIST: Final = text(
    "SELECT id, reason, since, notification_id AS nid, body "
    "FROM dispatcher.quarantine_list_v1(:limit)"
)
"""Messages the dispatcher set aside, oldest first."""
QUARANTINE_HOLD: Final = text("SELECT queue, body FROM dispatcher.quarantine_hold_v1(:id)")
"""Lock set-aside message ``:id`` for the transaction: its queue and body, or no row."""
QUARANTINE_DROP: Final = text("SELECT dispatcher.quarantine_drop_v1(:id)")
"""Delete set-aside message ``:id``; true if there was one."""
QUARANTINE_ERASE: Final = text("SELECT dispatcher.quarantine_erase_v1(CAST(:forms AS text[]))")
"""Delete the set-aside messages that quote any of ``:forms``; how many."""
