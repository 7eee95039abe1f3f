"""The words the services share: notification statuses, dispatch-gate claim states,
opt-out scopes, priorities, template categories and callback delivery states.

Each is the exact string that travels in events and API bodies and sits in the database;
naming them here gives one list to check a comparison against. Statuses and claim states
are ``StrEnum``s: a member *is* its string, so JSON, SQL parameters and f-strings carry the
same text as before. The words clients send in requests (scope, priority, category, a
status filter) are ``Literal`` types, because pydantic reports a wrong one as
``literal_error`` with the choices quoted, and that is what 422 answers have always said.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final, Literal, get_args


class NotificationStatus(StrEnum):
    """Where a notification stands. It moves through accepted, scheduled, sent, delivered
    and read, never back; cancelled, expired, failed and suppressed are final."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    FAILED = "failed"
    SUPPRESSED = "suppressed"

    @property
    def is_terminal(self) -> bool:
        """Whether this status ends the notification's progress."""
        return self in TERMINAL


PROGRESS: Final[tuple[NotificationStatus, ...]] = (
    NotificationStatus.ACCEPTED,
    NotificationStatus.SCHEDULED,
    NotificationStatus.SENT,
    NotificationStatus.DELIVERED,
    NotificationStatus.READ,
)
"""Statuses in the order a notification moves through them; none ever goes back."""

TERMINAL: Final[frozenset[NotificationStatus]] = frozenset(
    {
        NotificationStatus.CANCELLED,
        NotificationStatus.EXPIRED,
        NotificationStatus.FAILED,
        NotificationStatus.SUPPRESSED,
    }
)
"""Statuses that end a notification's progress: nothing replaces them."""

UNSENT: Final[frozenset[NotificationStatus]] = frozenset(
    {NotificationStatus.ACCEPTED, NotificationStatus.SCHEDULED}
)
"""Progress before Meta took the message: what a cancel can still stop."""

ENDS_FROM: Final[Mapping[NotificationStatus, frozenset[NotificationStatus]]] = {
    NotificationStatus.CANCELLED: UNSENT,
    NotificationStatus.EXPIRED: UNSENT,
    NotificationStatus.SUPPRESSED: UNSENT,
    NotificationStatus.FAILED: UNSENT | {NotificationStatus.SENT},
}
"""The progress statuses each terminal status may end. Cancelled, expired and suppressed
are decided before anything is sent; ``failed`` wins until the message is ``delivered`` (a
``delivered`` after ``failed``, from a multi-device user, leaves it ``failed``)."""

StatusName = Literal[
    "accepted",
    "scheduled",
    "sent",
    "delivered",
    "read",
    "failed",
    "expired",
    "cancelled",
    "suppressed",
]
"""A :class:`NotificationStatus` as a client names it in a request (the list's status
filter), in the order a refused value's 422 message has always listed them; a test holds
the two to the same statuses."""


class ClaimState(StrEnum):
    """A row of the dispatch gate, ``dispatcher.claims``, where a dispatcher and ingest's
    cancel meet: ``claimed`` under a lease, ``released`` between two attempts, or one of the
    outcomes that close it for good."""

    CLAIMED = "claimed"
    RELEASED = "released"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


Scope = Literal["all", "marketing"]
"""What an opt-out (suppression) stops: every message, or marketing templates only."""
SCOPES: Final[tuple[Scope, ...]] = get_args(Scope)

Priority = Literal["high", "normal"]
"""Which dispatch queue a notification takes: ``high`` (authentication, OTP) or ``normal``."""

Category = Literal["marketing", "utility", "authentication"]
"""A template's category as the client declares it (never sent to Meta)."""

CallbackState = Literal["pending", "delivered", "failed", "quarantined"]
"""Where the delivery of one status callback (a ``ledger.callbacks`` row) stands."""
