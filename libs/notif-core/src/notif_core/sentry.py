"""Error reporting to Sentry, when ``SENTRY_DSN`` is set, with personal data scrubbed.

Every string of an event (messages, exception values, breadcrumbs, request data, local
variables) goes through :func:`scrub` before it leaves the process: phone numbers are
masked, API keys and callback secrets replaced by their prefix.
"""

from __future__ import annotations

import os
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.asyncio import AsyncioIntegration
from sentry_sdk.integrations.fastapi import FastApiIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.transport import Transport

from notif_core import __version__
from notif_core.privacy import scrub_text

_SENSITIVE_HEADERS = frozenset({"x-api-key", "authorization", "cookie", "x-hub-signature-256"})


def scrub(event: Any, _hint: Any = None) -> Any:
    """``before_send``: the event with every string scrubbed and credential headers dropped."""
    return _walk(event)


def _walk(value: Any, key: str = "") -> Any:
    if isinstance(value, str):
        return "[Filtered]" if key.lower() in _SENSITIVE_HEADERS else scrub_text(value)
    if isinstance(value, dict):
        return {k: _walk(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, key) for v in value]
    return value


def setup_sentry(service: str, transport: type[Transport] | Transport | None = None) -> bool:
    """Initialise sentry-sdk from ``SENTRY_DSN`` (and ``SENTRY_ENVIRONMENT``); False if unset.

    ``transport`` lets a test capture events locally instead of sending them."""
    dsn = os.environ.get("SENTRY_DSN")
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        release=f"whatsapp-notif@{__version__}",
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        server_name=service,
        before_send=scrub,
        before_send_transaction=scrub,
        integrations=[StarletteIntegration(), FastApiIntegration(), AsyncioIntegration()],
        transport=transport,
        traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "0")),
    )
    sentry_sdk.set_tag("service", service)
    return True
