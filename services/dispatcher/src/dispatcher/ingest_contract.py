"""What the dispatcher reads of ingest's schema, the only module of the dispatcher that names it:
``ingest.inbound_mark_v1(sender, recipient_key)`` (ingest migration 0004).

Ingest marks a recipient's latest inbound message in the transaction that acknowledges
Meta's webhook; the ledger projects the same message later. A mark newer than the ledger's
window says the ledger has not caught up on this recipient; a mark within 24 h says the
window is open whatever the ledger says yet.
"""

from __future__ import annotations

from typing import Final


def newest_mark(forms: str) -> str:
    """A join onto the contract, so one statement reads it with the ledger's rows: the newest
    mark of any of ``forms`` (a subquery of one text column ``form``; the recipient and the
    forms the ledger knows name the same person, a BSUID that came with the number: its STOP
    may arrive without the number), for the sender bound as ``:sender``. Columns:
    ``mark.last_inbound_at`` (Meta's timestamp of the message) and ``mark.marked_at`` (when
    ingest committed it)."""
    return (
        "LEFT JOIN LATERAL (SELECT m.last_inbound_at, m.marked_at "  # noqa: S608 - fixed forms
        f"FROM {forms} AS forms "
        "CROSS JOIN LATERAL ingest.inbound_mark_v1(:sender, forms.form) AS m "
        "ORDER BY m.last_inbound_at DESC LIMIT 1) AS mark ON true"
    )


MARK_AGE: Final = "extract(epoch FROM now() - mark.marked_at)"
"""Seconds since ingest acknowledged the mark, on the database's clock."""
