"""Sentry reporting: off without SENTRY_DSN; with it, events leave the process scrubbed of
phone numbers, API keys and callback secrets. Events are captured by a local transport."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from notif_core.sentry import scrub, setup_sentry

PHONE = "+447700900123"
KEY = "wn_live_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
SECRET = "whsec_" + "ab" * 32


class Captured(Transport):
    """Keeps every envelope in memory instead of sending it."""

    sent: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        type(self).sent.append(envelope)


def test_off_without_a_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    assert setup_sentry("tests") is False


def test_events_leave_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_DSN", "http://public@127.0.0.1:9/1")
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "test")
    Captured.sent = []
    try:
        assert setup_sentry("tests", transport=Captured) is True
        sentry_sdk.add_breadcrumb(message=f"sending to {PHONE}")
        try:
            raise ValueError(f"Meta refused {PHONE} for key {KEY}; secret {SECRET}")
        except ValueError as exc:
            sentry_sdk.capture_exception(exc)
        sentry_sdk.flush()
    finally:
        sentry_sdk.init()  # back to a disabled client for the rest of the run
    assert Captured.sent
    raw = "".join(
        item.payload.get_bytes().decode() for envelope in Captured.sent for item in envelope
    )
    assert PHONE not in raw
    assert PHONE[1:] not in raw
    assert KEY not in raw
    assert KEY.removeprefix("wn_live_") not in raw
    assert SECRET not in raw
    event = json.loads(
        next(i.payload.get_bytes() for e in Captured.sent for i in e if i.type == "event")
    )
    assert event["release"].startswith("whatsapp-notif@")
    assert event["environment"] == "test"
    assert "+4477••••123" in json.dumps(event, ensure_ascii=False)  # masked, not dropped


def test_scrub_drops_credential_headers() -> None:
    event: dict[str, Any] = {
        "request": {"headers": {"X-API-Key": KEY, "Authorization": "Bearer x", "Accept": "*/*"}}
    }
    headers = scrub(event)["request"]["headers"]
    assert headers == {"X-API-Key": "[Filtered]", "Authorization": "[Filtered]", "Accept": "*/*"}
