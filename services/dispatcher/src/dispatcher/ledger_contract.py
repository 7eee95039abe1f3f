"""What the dispatcher reads of the ledger's schema, the only module of the dispatcher that names
it: functions the ledger publishes (ledger migrations 0011 and 0012), never its tables.

The set-returning ones are inlined into the statement that reads them, so the checks before
a send keep the plans (and the primary-key lookups) of reading the tables themselves.
Fragments bind ``:sender``, ``:recipient`` (its ``recipient_key``), ``:pseudonym`` and
``:marketing``; no input reaches their text.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import text

OPTED_OUT: Final = (
    "EXISTS (SELECT 1 FROM ledger.opt_outs_v1() AS o "
    "WHERE o.recipient IN (:recipient, :pseudonym) AND o.phone_number_id = :sender "
    "AND (o.scope = 'all' OR :marketing))"
)
"""The sender's own opt-out of the recipient (or of its pseudonym, once erased) is in force;
for marketing, a marketing-only one counts too."""
PROJECTED_INBOUND: Final = (
    "(SELECT w.last_inbound_at FROM ledger.windows_v1() AS w "
    "WHERE w.phone_number_id = :sender AND w.recipient = :recipient)"
)
"""The latest inbound from the recipient to the sender that the ledger has projected."""
RECIPIENT_FORMS: Final = (
    "(SELECT CAST(:recipient AS text) AS form UNION "
    "SELECT a.alias FROM ledger.recipient_aliases_v1() AS a WHERE a.key = :recipient)"
)
"""The recipient and every form the ledger knows names the same person: one column ``form``."""


def stored(event_id: str) -> str:
    """Whether the ledger has stored (and so projected) the event whose id is the SQL
    expression ``event_id``."""
    return (
        "EXISTS (SELECT 1 FROM ledger.stored_events_v1() AS stored "  # noqa: S608 - fixed text
        f"WHERE stored.event_id = {event_id})"
    )


ACCEPTED_WAMID: Final = text("SELECT ledger.accepted_wamid_v1(:id)")
"""The wamid of any status Meta reported for notification ``:id``, or NULL."""
