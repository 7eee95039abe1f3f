"""What notifctl does in ingest's schema, the only module of notifctl that names it: the
functions ingest publishes for the operator (ingest migration 0007), never its tables.

The relay's set-aside rows are outbox rows; ingest keeps how they are marked to itself.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import text

QUARANTINE_LIST: Final = text(
    "SELECT id, reason, since, notification_id AS nid, body FROM ingest.quarantine_list_v1(:limit)"
)
"""Outbox rows the relay set aside, oldest first."""
QUARANTINE_RETRY: Final = text("SELECT ingest.quarantine_retry_v1(:id)")
"""Make set-aside outbox row ``:id`` due again; true if there was one."""
QUARANTINE_DROP: Final = text("SELECT ingest.quarantine_drop_v1(:id)")
"""Delete set-aside outbox row ``:id``; true if there was one."""
