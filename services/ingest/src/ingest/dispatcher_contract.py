"""What ingest does in the dispatcher's schema, the only module of ingest that names it: the
functions the dispatcher publishes (dispatcher migration 0004), never the dispatch gate's
table.

A cancel and a dispatcher's claim meet on the gate's row of the notification; the statement
that decides between them is the dispatcher's own (``dispatcher.end_unclaimed_v1``), so the
promise that a cancelled notification is never sent is written once.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import text

CANCEL: Final = text("SELECT won, state FROM dispatcher.cancel_v1(:id)")
"""Cancel notification ``:id`` unless a dispatcher holds, sent or ended it: ``won`` (this call
cancelled it) and ``state``, what the gate holds now (``cancelled``: now or before)."""
CANCELLED_JOIN: Final = "LEFT JOIN dispatcher.cancelled_v1() AS c ON c.notification_id = n.id"
"""Joins ``c.cancelled_at`` onto accepted notifications ``n``: set when the gate holds the
notification cancelled, which it then never sends. Inlined: the gate's primary key serves
it."""
