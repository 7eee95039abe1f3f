"""What ingest reads of the ledger's schema, the only module of ingest that names it: functions
the ledger publishes (ledger migration 0008 for erasure, 0011 for the rest), never its
tables.

The set-returning ones are inlined into the statement that reads them, so a read keeps the
plan, and the indexes, of reading the ledger's tables: the API's filters, orders and keyset
pages are built by the callers from column names the functions answer. Nothing a client sent
reaches the text of a statement; values are bound parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlalchemy import TextClause, text

STATUS_JOIN: Final = "LEFT JOIN ledger.notification_status_v1() AS l ON l.id = n.id"
STATUS: Final = "ledger.notification_status_v1()"
"""The ledger's read model of every notification, to join as the caller needs (the wamid a
customer's reply names, say)."""
"""Joins the ledger's read model ``l`` (status, a timestamp per status, wamid, last error,
attempts, pricing) onto accepted notifications ``n``; no row until the ledger has seen it."""

HISTORY: Final = text(
    "SELECT seq, event_id, type, occurred_at, recorded_at, data "
    "FROM ledger.notification_history_v1(:id) ORDER BY seq"
)
"""Events that named notification ``:id``, and Meta's statuses that named only its wamid."""

PERSON_FORMS: Final = text("SELECT form FROM ledger.person_forms_v1(CAST(:forms AS text[]))")
"""Every form the ledger links to ``:forms`` (aliases both ways, transitively)."""
PERSON_KNOWN: Final = text(
    "SELECT ledger.person_known_v1(CAST(:keys AS text[]), CAST(:senders AS text[]))"
)
"""Whether any of ``:senders`` holds a window, or an opt-out the person gave, of ``:keys``."""
SENT_TO: Final = text(
    f"SELECT 1 FROM ingest.notifications AS n {STATUS_JOIN} "  # noqa: S608 - our constant
    "WHERE n.tenant_id = :tenant AND n.to = ANY(CAST(:forms AS text[])) "
    "AND l.sent_at IS NOT NULL LIMIT 1"
)
"""A notification of tenant ``:tenant`` to any of ``:forms`` that Meta took: a cancelled or
refused one does not make its recipient someone the tenant has dealt with."""


def callback_deliveries(where: Sequence[str]) -> TextClause:
    """Status callbacks and how their delivery went, newest first, at most ``:limit``;
    ``where``: fixed conditions on the answered columns."""
    return text(
        "SELECT id, notification_id, event_id, status, url, state, "  # noqa: S608 - fixed clauses
        "attempts, last_status_code, last_error, next_attempt_at, created_at, delivered_at "
        f"FROM ledger.callback_deliveries_v1() WHERE {' AND '.join(where)} "
        "ORDER BY id DESC LIMIT :limit"
    )


def usage(columns: str) -> TextClause:
    """Messages and billable messages of tenant ``:tenant`` from ``:start`` to ``:end``, per
    ``columns`` (names among day, category, billable, country; from a fixed list)."""
    return text(
        f"SELECT {columns}, sum(messages) AS messages, "  # noqa: S608 - names from a fixed list
        "coalesce(sum(messages) FILTER (WHERE billable), 0) AS billable_messages "
        "FROM ledger.usage_v1() "
        "WHERE tenant_id = :tenant AND day BETWEEN :start AND :end "
        f"GROUP BY {columns} ORDER BY {columns}"
    )


def opt_outs(where: Sequence[str]) -> TextClause:
    """Opt-outs in force, in (recipient, sender, scope) order, at most ``:limit``; ``where``:
    fixed conditions on the answered columns."""
    return text(
        "SELECT recipient, phone_number_id, scope, source, since "  # noqa: S608 - fixed clauses
        "FROM ledger.opt_outs_v1() "
        f"WHERE {' AND '.join(where)} "
        "ORDER BY recipient, phone_number_id, scope LIMIT :limit"
    )
