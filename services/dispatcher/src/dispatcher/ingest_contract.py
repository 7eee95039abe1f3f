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

MARK_FROM: Final = (
    "LEFT JOIN LATERAL (SELECT m.last_inbound_at, m.marked_at "
    "FROM (SELECT CAST(:recipient AS text) AS form UNION "
    "SELECT a.alias FROM ledger.recipient_aliases AS a WHERE a.key = :recipient) AS forms "
    "CROSS JOIN LATERAL ingest.inbound_mark_v1(:sender, forms.form) AS m "
    "ORDER BY m.last_inbound_at DESC LIMIT 1) AS mark ON true"
)
"""A join onto the contract, so one statement reads it with the ledger's rows: the newest
mark of the recipient or of any form the ledger knows names the same person (a BSUID that
came with the number: its STOP may arrive without the number). Columns:
``mark.last_inbound_at`` (Meta's timestamp of the message) and ``mark.marked_at`` (when
ingest committed it)."""
MARK_AGE: Final = "extract(epoch FROM now() - mark.marked_at)"
"""Seconds since ingest acknowledged the mark, on the database's clock."""
