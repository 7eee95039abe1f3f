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
SENDER_CAP = Gauge("dispatcher_sender_cap_mps", "Configured throughput cap per sender.", ["sender"])


def initialise(senders: list[str], codes: list[str]) -> None:
    """Export every known label value at zero from the start, so rates and alerts see a
    series before the first event instead of no data."""
    for result in ("sent", "retry", "failed", "requeued"):
        SENDS.labels(result=result)
    for outcome in ("found", "waiting", "resent"):
        TAKEOVERS.labels(outcome=outcome)
    for limit in ("pair", "sender"):
        PACING_WAITS.labels(limit=limit)
    for code in codes:
        META_ERRORS.labels(code=code)
        RETRIES.labels(code=code)
    for sender in senders:
        BREAKER_OPEN.labels(sender=sender).set(0)
