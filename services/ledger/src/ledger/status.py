"""The notification status machine: monotonic, tolerant of duplicates and reordering.

Progress runs accepted < scheduled < sent < delivered < read and never goes back: a late
``sent`` after ``delivered`` only fills in ``sent_at``. Terminal states (failed, expired,
cancelled, suppressed) end the progress. ``failed`` wins only before ``delivered``; a
``delivered`` that follows ``failed`` (a multi-device user) is kept in the history and its
timestamp recorded, but the status stays ``failed``.
"""

from __future__ import annotations

from typing import Final

from notif_core.events import PROGRESS
from notif_core.events import TERMINAL as _TERMINAL

TERMINAL: Final = frozenset(_TERMINAL)
_RANK: Final = {status: rank for rank, status in enumerate(PROGRESS)}


def next_status(current: str | None, incoming: str) -> str | None:
    """The status after ``incoming`` arrives, or None when it changes nothing."""
    if current == incoming:
        return None
    if current is None:
        return incoming
    if current in TERMINAL:
        return None
    if incoming in TERMINAL:
        if incoming == "failed":
            return incoming if _RANK[current] < _RANK["delivered"] else None
        # expired / cancelled / suppressed are decided before anything was sent.
        return incoming if _RANK[current] < _RANK["sent"] else None
    return incoming if _RANK[incoming] > _RANK[current] else None
