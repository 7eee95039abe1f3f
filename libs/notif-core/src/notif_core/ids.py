"""Identifiers: time-ordered UUIDv7 for new things, UUIDv5 for things derived from outside ids.

A webhook that Meta delivers twice must map to the same event id, so events derived from a
wamid and a status use a name-based UUID instead of a fresh one.
"""

from __future__ import annotations

import uuid

import uuid6

_NAMESPACE = uuid.UUID("6f0b6f5e-5a43-4b3e-9d8a-0c6a8f1e2b11")


def new_id() -> uuid.UUID:
    """A new UUIDv7: unique, and sortable by creation time."""
    return uuid6.uuid7()


def derived_id(*parts: str) -> uuid.UUID:
    """A UUIDv5 that is the same every time for the same parts."""
    return uuid.uuid5(_NAMESPACE, "\x1f".join(parts))
