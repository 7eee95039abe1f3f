"""The dispatcher's Prometheus metrics. Labels carry sender ids and Meta codes, never a
notification id or a phone number."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

META_ERRORS = Counter("dispatcher_meta_errors", "Cloud API errors by Meta code.", ["code"])
PACING_WAITS = Counter(
    "dispatcher_pacing_waits", "Messages sent back to wait for a rate limit.", ["limit"]
)
TEMPLATE_HOLDS = Counter(
    "dispatcher_template_holds",
    "Template sends held back because Meta stopped sending their template (paused, disabled, "
    "rejected); each comes back after TEMPLATE_HOLD_SECONDS.",
)
BREAKER_WAITS = Counter(
    "dispatcher_breaker_waits", "Messages held back because their sender's breaker is open."
)
BREAKER_OPEN = Gauge(
    "dispatcher_breaker_open", "1 while the sender's circuit breaker is open.", ["sender"]
)
SEND_SECONDS = Histogram(
    "dispatcher_send_seconds",
    "Duration of one Cloud API send call.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SENDS = Counter(
    "dispatcher_sends",
    "Cloud API send outcomes: sent, retry (a retryable error), failed (terminal), requeued "
    "(rate limit or breaker: sent back to wait, no attempt counted).",
    ["result"],
)
TAKEOVERS = Counter(
    "dispatcher_takeovers",
    "Claims taken over from an attempt that may have reached Meta unrecorded: found (Meta's "
    "statuses showed it sent, nothing resent), waiting (no status yet: look again later, "
    "within the grace), "
    "resent (no status within TAKEOVER_GRACE_SECONDS).",
    ["outcome"],
)
RETRIES = Counter("dispatcher_retries", "Retries scheduled after a Meta error, by code.", ["code"])
SENDER_RATE = Gauge(
    "dispatcher_sender_rate_mps",
    "Messages/s the sender may send now: its cap, lowered after 130429 (AIMD).",
    ["sender"],
)
SENDER_CAP = Gauge(
    "dispatcher_sender_cap_mps",
    "Throughput cap the sender is paced at: SENDER_RATES, else what Meta reports, else "
    "SENDER_RATE_PER_SECOND.",
    ["sender"],
)
SENDER_QUALITY = Gauge(
    "dispatcher_sender_quality",
    "1 for the quality rating (GREEN, YELLOW, RED, UNKNOWN) Meta last reported for the sender.",
    ["sender", "rating"],
)
SENDER_REPORTED_MPS = Gauge(
    "dispatcher_sender_reported_mps",
    "Throughput Meta reports for the sender (level STANDARD: 80, HIGH: 1,000 messages/s).",
    ["sender"],
)
MESSAGING_LIMIT = Gauge(
    "dispatcher_messaging_limit",
    "Unique users business-initiated templates may reach in the moving window, per business "
    "portfolio, as Meta reports it (+Inf: unlimited or not reported).",
    ["portfolio"],
)
MESSAGING_LIMIT_USED = Gauge(
    "dispatcher_messaging_limit_used",
    "Unique users reached by business-initiated templates in the moving window, per portfolio.",
    ["portfolio"],
)
MESSAGING_LIMIT_HOLDS = Counter(
    "dispatcher_messaging_limit_holds",
    "Business-initiated templates held back because they would exceed the messaging limit, "
    "by category (marketing is held first).",
    ["category"],
)
ACCOUNT_RESTRICTED = Gauge(
    "dispatcher_account_restricted",
    "1 while Meta restricts the business account (account_update restriction_info), by "
    "restriction type.",
    ["waba", "restriction"],
)
ACCOUNT_BAN_STATE = Gauge(
    "dispatcher_account_ban_state",
    "1 for the ban state Meta last reported for the business account (SCHEDULE_FOR_DISABLE, "
    "DISABLE, REINSTATE).",
    ["waba", "state"],
)


def initialise(senders: list[str], codes: list[str]) -> None:
    """Export every known label value at zero from the start, so rates and alerts see a
    series before the first event instead of no data."""
    for result in ("sent", "retry", "failed", "requeued"):
        SENDS.labels(result=result)
    for outcome in ("found", "waiting", "resent"):
        TAKEOVERS.labels(outcome=outcome)
    for limit in ("pair", "sender"):
        PACING_WAITS.labels(limit=limit)
    for category in ("marketing", "utility", "authentication", "unknown"):
        MESSAGING_LIMIT_HOLDS.labels(category=category)
    for code in codes:
        META_ERRORS.labels(code=code)
        RETRIES.labels(code=code)
    for sender in senders:
        BREAKER_OPEN.labels(sender=sender).set(0)
