"""Tables of the ``dispatcher`` schema."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, Table, Text, false, func
from sqlalchemy.dialects.postgresql import UUID

metadata = MetaData(schema="dispatcher")

claims = Table(
    "claims",
    metadata,
    Column("notification_id", UUID(as_uuid=True), primary_key=True),
    Column("state", Text, nullable=False),
    Column("owner", Text, nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("wamid", Text, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("attempt_started_at", DateTime(timezone=True), nullable=True),
    Column("may_have_sent", Boolean, nullable=False, server_default=false()),
    Column("unconfirmed_since", DateTime(timezone=True), nullable=True),
)
"""The dispatch gate: one row per notification that a dispatcher or a cancel touched.

States: ``claimed`` (a dispatcher holds a lease and may be calling Meta), ``released``
(a retryable failure; the next attempt may claim it, a cancel may still win), ``sent``
(Meta returned a wamid), ``failed`` (terminal), ``cancelled`` (the client cancelled first),
``expired`` (its ``expires_at`` passed before it could be sent).

``unconfirmed_since`` marks an attempt that may have reached Meta with no answer recorded
(its holder died mid-send): see ``takeover.py``.
"""
