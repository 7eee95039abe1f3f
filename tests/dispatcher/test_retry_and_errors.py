"""Retry timing and the reading of Meta's answers."""

from __future__ import annotations

import json
import random

import pytest

from dispatcher.cloud_api import CloudApi
from dispatcher.decisions import is_retryable
from notif_core.backoff import RetryPolicy
from notif_core.meta_codes import TRANSPORT_ERROR


def test_full_jitter_stays_under_the_exponential_ceiling() -> None:
    policy = RetryPolicy(base_seconds=2, cap_seconds=60, max_attempts=5)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (6, 60), (20, 60)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter uses the whole range


@pytest.mark.parametrize(
    "code", [4, 80007, 130429, 131056, 131000, 131016, 131057, TRANSPORT_ERROR]
)
def test_retryable_codes(code: int | str) -> None:
    assert is_retryable(code)


@pytest.mark.parametrize("code", [100, 190, 368, 131026, 131047, 131051, 132000, 132001, 133010])
def test_permanent_codes(code: int) -> None:
    assert not is_retryable(code)


def test_success_yields_wamid() -> None:
    body = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "15551234567", "wa_id": "15551234567"}],
        "messages": [{"id": "wamid.OK"}],
    }
    result = CloudApi.parse(200, json.dumps(body).encode())
    assert (result.wamid, result.wa_id, result.error) == ("wamid.OK", "15551234567", None)


def test_error_body_yields_meta_code_not_http_status() -> None:
    body = {
        "error": {
            "message": "(#130429) Rate limit hit",
            "type": "OAuthException",
            "code": 130429,
            "error_data": {"messaging_product": "whatsapp", "details": "cap"},
            "fbtrace_id": "X",
        }
    }
    result = CloudApi.parse(400, json.dumps(body).encode())
    assert result.wamid is None
    assert result.error is not None
    assert (result.error.code, result.error.details) == (130429, "cap")


def test_non_json_5xx_is_treated_as_retryable_131000() -> None:
    result = CloudApi.parse(502, b"<html>bad gateway</html>")
    assert result.error is not None
    assert result.error.code == 131000


def test_message_body_sets_callback_data_and_strips_plus() -> None:
    body = CloudApi.message_body("+15551234567", {"type": "text", "text": {"body": "x"}}, "NID")
    assert body["to"] == "15551234567"
    assert body["messaging_product"] == "whatsapp"
    assert body["biz_opaque_callback_data"] == "NID"
    assert body["text"] == {"body": "x"}


def test_our_template_hints_never_reach_meta() -> None:
    message = {
        "type": "template",
        "template": {"name": "otp", "language": {"code": "en"}, "category": "authentication"},
    }
    body = CloudApi.message_body("+15551234567", message, "NID")
    assert body["template"] == {"name": "otp", "language": {"code": "en"}}
