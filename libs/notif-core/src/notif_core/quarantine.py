"""Setting aside what cannot be handled, so that nothing behind it waits.

Every stage that takes work in order (the outbox relay, the dispatcher, the ledger's
consumer, the callback deliverer) may meet an item it can never handle: a stored event its
parser refuses, a message that is not an event, a callback body that cannot be sent. Such
an item is *quarantined*: kept with its reason where an operator can list, retry or drop it
(``notifctl quarantine …``), and counted here, which the ``NotifQuarantined`` alert watches.

``reason`` is one of a fixed set of classes chosen by the code (:data:`Reason`), never text a
tenant supplied, so it is safe as a metric label.
"""

from __future__ import annotations

from typing import Final, Literal

from prometheus_client import Counter

Stage = Literal["relay", "dispatcher", "ledger", "callbacks"]
Reason = Literal[
    "unparseable",
    "invalid_event",
    "too_large",
    "unexpected_type",
    "handler_error",
    "unsendable",
]
STAGES: Final[tuple[Stage, ...]] = ("relay", "dispatcher", "ledger", "callbacks")
REASON_ATTRIBUTE: Final = "quarantine_reason"
"""SQS message attribute naming why a consumer moved a message to its DLQ."""
DETAIL_ATTRIBUTE: Final = "quarantine_detail"
"""SQS message attribute with a short, secret-free description of the failure."""
DETAIL_LIMIT: Final = 300

QUARANTINED = Counter(
    "notif_quarantined",
    "Items set aside because they can never be handled, by stage and reason class.",
    ["stage", "reason"],
)


def record(stage: Stage, reason: Reason) -> None:
    """Count one quarantined item (the caller logs it and stores it with its reason)."""
    QUARANTINED.labels(stage=stage, reason=reason).inc()


def detail(exc: BaseException) -> str:
    """A short description of ``exc`` for an operator: its class and first line, clipped."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"[:DETAIL_LIMIT]
