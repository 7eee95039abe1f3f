"""The notification status machine: monotonic, tolerant of duplicates and reordering.

Progress runs accepted < scheduled < sent < delivered < read and never goes back: a late
``sent`` after ``delivered`` only fills in ``sent_at``. Terminal states (failed, expired,
cancelled, suppressed) end the progress, each only from the statuses
``notif_core.vocabulary.ENDS_FROM`` gives it: ``failed`` wins only before ``delivered``; a
``delivered`` that follows ``failed`` (a multi-device user) is kept in the history and its
timestamp recorded, but the status stays ``failed``.
"""

from __future__ import annotations

from typing import Final

from notif_core.vocabulary import ENDS_FROM, PROGRESS, TERMINAL, NotificationStatus

__all__ = ["TERMINAL", "next_status"]

_RANK: Final = {status: rank for rank, status in enumerate(PROGRESS)}


def next_status(current: str | None, incoming: str) -> NotificationStatus | None:
    """The status after ``incoming`` arrives, or None when it changes nothing (statuses as
    stored: a ``NotificationStatus`` or its string)."""
    arriving = NotificationStatus(incoming)
    if current == arriving:
        return None
    if current is None:
        return arriving
    now = NotificationStatus(current)
    if now.is_terminal:
        return None
    if arriving.is_terminal:
        return arriving if now in ENDS_FROM[arriving] else None
    return arriving if _RANK[arriving] > _RANK[now] else None
