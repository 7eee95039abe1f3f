"""Tables of the ``dispatcher`` schema."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, func
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
)
"""The dispatch gate: one row per notification that a dispatcher or a cancel touched.

States: ``claimed`` (a dispatcher holds a lease and may be calling Meta), ``released``
(a retryable failure; the next attempt may claim it, a cancel may still win), ``sent``
(Meta returned a wamid), ``failed`` (terminal), ``cancelled`` (the client cancelled first),
``expired`` (its ``expires_at`` passed before it could be sent).
"""
