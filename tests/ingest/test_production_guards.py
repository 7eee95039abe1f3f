"""Pointed at Meta, no service starts with a sandbox secret; webhook secrets are compared in
constant time, and several app secrets are accepted while one is rotated out."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from tests.conftest import SANDBOX_SECRET
from tests.e2e.services import Services

from dispatcher.settings import DispatcherSettings
from ingest.settings import IngestSettings
from ingest.webhooks.meta_webhooks import signature_valid
from ledger.settings import LedgerSettings
from notif_core.runtime import refuse_to_start
from notif_core.settings import CoreSettings, meta_host

META = "https://graph.facebook.com"
SECRET_NAMES = (
    "WHATSAPP_API_BASE_URL",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "WHATSAPP_ACCESS_TOKEN",
    "RECIPIENT_PSEUDONYM_KEY",
    "API_KEYS",
    "CALLBACK_ALLOW_PRIVATE",
)
REAL: dict[str, Any] = {
    "whatsapp_app_secret": SecretStr("0123456789abcdef0123456789abcdef"),
    "whatsapp_verify_token": SecretStr("a-verify-token-of-our-own"),
    "whatsapp_access_token": SecretStr("EAAG-a-real-looking-token"),
    "recipient_pseudonym_key": SecretStr("a-pseudonym-key-of-our-own"),
}
SANDBOX_VALUES = (
    "sandbox-app-secret",
    "sandbox-verify-token",
    "sandbox-access-token",
    "local-recipient-pseudonym-key",
)


@pytest.fixture(autouse=True)
def _no_outer_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://graph.facebook.com", "graph.facebook.com"),
        ("https://GRAPH.facebook.com./v21.0", "graph.facebook.com"),
        ("graph.facebook.com", "graph.facebook.com"),  # no scheme: still Meta's
        ("https://user:pw@graph-video.facebook.com:443", "graph-video.facebook.com"),
        ("https://facebook.com", "facebook.com"),
        ("http://127.0.0.1:3900", None),
        ("https://evilfacebook.com", None),
        ("https://graph.facebook.com.example.net", None),
        ("http://[::1", None),  # unparseable
    ],
)
def test_meta_is_recognised_by_host(url: str, host: str | None) -> None:
    assert meta_host(url) == host


def test_every_service_names_its_sandbox_secrets_against_meta() -> None:
    cases: list[tuple[CoreSettings, set[str]]] = [
        (
            IngestSettings(whatsapp_api_base_url=META),
            {"WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "RECIPIENT_PSEUDONYM_KEY"},
        ),
        (
            DispatcherSettings(whatsapp_api_base_url=META),
            {"WHATSAPP_ACCESS_TOKEN", "RECIPIENT_PSEUDONYM_KEY"},
        ),
        (LedgerSettings(whatsapp_api_base_url=META), {"RECIPIENT_PSEUDONYM_KEY"}),
    ]
    for settings, names in cases:
        problem = settings.production_problem()
        assert problem is not None
        assert problem.startswith("WHATSAPP_API_BASE_URL is Meta's (graph.facebook.com)")
        assert {n for n in SECRET_NAMES if n in problem} == names | {"WHATSAPP_API_BASE_URL"}
        assert "\n" not in problem
        assert not any(value in problem for value in SANDBOX_VALUES)


def test_real_secrets_or_the_sandbox_url_start() -> None:
    for cls in (IngestSettings, DispatcherSettings, LedgerSettings):
        assert cls(whatsapp_api_base_url=META, **REAL).production_problem() is None
        assert cls().production_problem() is None  # local: sandbox defaults are the point
        assert cls().whatsapp_api_base_url == "http://127.0.0.1:3900"


def test_private_callback_receivers_are_refused_against_meta() -> None:
    """CALLBACK_ALLOW_PRIVATE is for a laptop: against Meta it would let a tenant's callback
    URL reach this network, so every service refuses to start with it on."""
    for cls in (IngestSettings, DispatcherSettings, LedgerSettings):
        problem = cls(whatsapp_api_base_url=META, callback_allow_private=True, **REAL)
        reason = problem.production_problem()
        assert reason is not None
        assert "CALLBACK_ALLOW_PRIVATE" in reason
        assert cls(callback_allow_private=True).production_problem() is None  # the sandbox


def test_an_empty_secret_or_the_sandbox_secret_among_several_is_refused() -> None:
    for secret in ("", " , ", "0123456789abcdef,sandbox-app-secret"):
        settings = IngestSettings(
            whatsapp_api_base_url=META, **(REAL | {"whatsapp_app_secret": SecretStr(secret)})
        )
        assert settings.sandbox_secrets() == ["WHATSAPP_APP_SECRET"]
    blank = IngestSettings(
        whatsapp_api_base_url=META, **(REAL | {"recipient_pseudonym_key": SecretStr("  ")})
    )
    assert blank.sandbox_secrets() == ["RECIPIENT_PSEUDONYM_KEY"]


def test_the_start_up_check_exits_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_API_BASE_URL", META)  # the env name every service reads
    settings = DispatcherSettings()
    with pytest.raises(SystemExit) as refused:
        refuse_to_start(settings)
    message = str(refused.value.code)
    assert message.startswith("refusing to start: WHATSAPP_API_BASE_URL is Meta's")
    assert "WHATSAPP_ACCESS_TOKEN" in message
    assert "sandbox-access-token" not in message
    refuse_to_start(DispatcherSettings(**REAL))  # passes: returns None


def _entry_point(name: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name(name)), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "LOG_LEVEL": "INFO", **env},
    )


def test_the_real_entry_points_refuse_before_serving() -> None:
    """A production-like environment with one secret left at its sandbox value: the process
    exits 1 at once (no database, queue or port was needed), saying which setting."""
    ledger = _entry_point(
        "notif-ledger", env={"WHATSAPP_API_BASE_URL": META, "DATABASE_URL": "postgresql://x/y"}
    )
    assert ledger.returncode == 1
    assert ledger.stderr.strip().splitlines() == [
        "refusing to start: WHATSAPP_API_BASE_URL is Meta's (graph.facebook.com) but "
        "RECIPIENT_PSEUDONYM_KEY is empty or still the sandbox/local default: set real "
        "secrets before starting against Meta"
    ]
    assert '"event":"refused_to_start"' in ledger.stdout  # the JSON log says it too
    assert "local-recipient-pseudonym-key" not in ledger.stdout + ledger.stderr


def test_the_verify_token_handshake(services: Services) -> None:
    url = services.url("ingest") + "/webhooks/whatsapp"

    def handshake(token: str) -> httpx.Response:
        params = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": token}
        return httpx.get(url, params=params)

    good = handshake("sandbox-verify-token")
    assert (good.status_code, good.text) == (200, "1158201444")
    for wrong in ("sandbox-verify-toke", "sandbox-verify-token ", "", "sändbox-verify-token"):
        assert handshake(wrong).status_code == 403, wrong
    no_token = httpx.get(url, params={"hub.mode": "subscribe", "hub.challenge": "1"})
    assert no_token.status_code == 403


def test_any_of_several_app_secrets_signs_a_webhook(services: Services) -> None:
    new, old = b"the-new-app-secret", SANDBOX_SECRET.encode()
    settings = IngestSettings(whatsapp_app_secret=SecretStr(f" {new.decode()} ,{old.decode()},"))
    secrets = settings.app_secrets()
    assert secrets == [new, old]
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    for secret in (new, old):
        header = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        assert signature_valid(secrets, body, header)
        assert not signature_valid(secrets, body + b" ", header)
    stranger = "sha256=" + hmac.new(b"another", body, hashlib.sha256).hexdigest()
    assert not signature_valid(secrets, body, stranger)
    assert not signature_valid([], body, stranger)
    assert not signature_valid(secrets, body, "sha256=ünicode")
    # The running ingest holds one secret: signed with it, 200; with another, 401.
    url = services.url("ingest") + "/webhooks/whatsapp"
    for secret, status in ((old, 200), (new, 401)):
        header = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        response = httpx.post(
            url,
            content=body,
            headers={"X-Hub-Signature-256": header, "Content-Type": "application/json"},
        )
        assert response.status_code == status, response.text
