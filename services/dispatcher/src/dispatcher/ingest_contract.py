"""What the dispatcher reads of ingest's schema, the only module of the dispatcher that names it:
``ingest.inbound_mark_v1(sender, recipient_key)`` (ingest migration 0004),
``ingest.inbound_messages_v1(sender, recipient_key)`` (ingest migration 0008),
``ingest.unsendable_templates_v1()`` (ingest migration 0009) and
``ingest.sender_health_v1()`` (ingest migration 0010).

Ingest marks a recipient's latest inbound message in the transaction that acknowledges
Meta's webhook; the ledger projects the same message later. A mark newer than the ledger's
window says the ledger has not caught up on this recipient; a mark within 24 h says the
window is open whatever the ledger says yet. Meta's timestamps are whole seconds, so a mark
cannot tell a "hi" from a "STOP" of the same second: each message ingest acknowledged is
also looked up in the ledger by its event (:func:`newest_unprojected`).
"""

from __future__ import annotations

from collections.abc import Callable
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


def newest_unprojected(forms: str, stored: Callable[[str], str]) -> str:
    """A scalar subquery: seconds since ingest acknowledged the newest inbound message from
    any of ``forms`` (as in :func:`newest_mark`) to ``:sender`` that the ledger has not
    stored yet, by ``stored(event_id)`` (a predicate on the ledger's contract); NULL when
    the ledger has stored every one."""
    return (
        "(SELECT extract(epoch FROM now() - max(ack.marked_at)) "  # noqa: S608 - fixed forms
        f"FROM {forms} AS ack_forms "
        "CROSS JOIN LATERAL ingest.inbound_messages_v1(:sender, ack_forms.form) AS ack "
        f"WHERE NOT {stored('ack.event_id')})"
    )


MARK_AGE: Final = "extract(epoch FROM now() - mark.marked_at)"
"""Seconds since ingest acknowledged the mark, on the database's clock."""


UNSENDABLE_TEMPLATES: Final = (
    "SELECT waba_id, name, language, status FROM ingest.unsendable_templates_v1()"
)
"""Every template Meta last reported as not APPROVED, with its status."""


SENDER_HEALTH: Final = (
    "SELECT waba_id, phone_number_id, quality_rating, messaging_limit, throughput_level, "
    "ban_state, restrictions FROM ingest.sender_health_v1()"
)
"""What Meta last reported of each sender number and its business account (migration 0010)."""
