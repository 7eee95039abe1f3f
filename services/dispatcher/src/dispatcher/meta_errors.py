"""What to do about each Meta error code: the table from the Cloud API facts, as data.

Decisions rest on the numeric ``code`` only, never on HTTP status or titles.
"""

from __future__ import annotations

from typing import Final

RETRYABLE: Final = frozenset(
    {
        4,  # app-level API call limit
        80007,  # WABA rate limit
        130429,  # per-number throughput reached
        131056,  # pair rate limit (this recipient only)
        131000,  # something went wrong (may duplicate)
        131016,  # service unavailable
        131057,  # number in maintenance
    }
)

TRANSPORT_ERROR: Final = "transport_error"
"""Our code for timeouts and connection failures, which are retryable."""

MAX_ATTEMPTS_EXCEEDED: Final = "max_attempts_exceeded"


def is_retryable(code: int | str) -> bool:
    return code == TRANSPORT_ERROR or code in RETRYABLE
