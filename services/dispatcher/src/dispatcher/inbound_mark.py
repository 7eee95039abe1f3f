"""What ingest knows of a recipient's latest inbound message before the ledger does: its
contract ``ingest.inbound_mark_v1(sender, recipient_key)`` (ingest migration 0004), the only
way the dispatcher reads it.

Ingest writes the mark in the transaction that acknowledges Meta's webhook; the ledger
projects the same message later. A mark newer than the ledger's window says the ledger has
not caught up on this recipient; a mark within 24 h says the window is open whatever the
ledger says yet.
"""

from __future__ import annotations

from typing import Final

MARK_FROM: Final = "LEFT JOIN LATERAL ingest.inbound_mark_v1(:sender, :recipient) AS mark ON true"
"""A join onto the contract, so one statement reads it with the ledger's rows. Columns:
``mark.last_inbound_at`` (Meta's timestamp of the message) and ``mark.marked_at`` (when
ingest committed it)."""
MARK_AGE: Final = "extract(epoch FROM now() - mark.marked_at)"
"""Seconds since ingest acknowledged the mark, on the database's clock."""
