"""Prometheus metrics of the sandbox, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry(auto_describe=True)

SENDS = Counter(
    "wa_sandbox_sends",
    "Send requests by outcome: accepted, or the Meta error code returned.",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOKS = Counter(
    "wa_sandbox_webhook_posts",
    "Webhook POSTs by result: delivered, retried, failed.",
    ["result"],
    registry=REGISTRY,
)
