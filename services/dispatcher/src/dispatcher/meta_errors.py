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

BSUID_NOT_SUPPORTED: Final = 131062
"""Meta's "Business-scoped User ID recipients are not supported for this message": the
message kind needs a phone number (one-tap, zero-tap and copy-code authentication
templates). The same message to the same BSUID is refused again, so it is never retried.
Reported by partners documenting Meta's BSUID changes (Dualhook,
https://dualhook.com/docs/contacts-bsuid-api-changes ; YCloud,
https://docs.ycloud.com/reference/webhook-updates-bsuid ), not yet seen in Meta's own
error-code table."""

TERMINAL: Final = frozenset({BSUID_NOT_SUPPORTED})
"""Codes known to be final for the message as sent. Every code outside ``RETRYABLE`` fails
the notification at once anyway; these are named so that :func:`is_retryable` refuses
them even if one were ever listed as retryable."""

TRANSPORT_ERROR: Final = "transport_error"
"""Our code for timeouts and connection failures, which are retryable."""

MAX_ATTEMPTS_EXCEEDED: Final = "max_attempts_exceeded"


def is_retryable(code: int | str) -> bool:
    return code not in TERMINAL and (code == TRANSPORT_ERROR or code in RETRYABLE)
