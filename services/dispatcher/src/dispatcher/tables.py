"""Tables of the ``dispatcher`` schema."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, Table, Text, func
from sqlalchemy.dialects.postgresql import UUID

metadata = MetaData(schema="dispatcher")

sends = Table(
    "sends",
    metadata,
    Column("notification_id", UUID(as_uuid=True), primary_key=True),
    Column("wamid", Text, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
"""One row per notification Meta accepted: a redelivered message finds it and skips the send."""
