"""Ingest settings: the shared connections plus the API's own knobs."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from notif_core.settings import CoreSettings

SANDBOX_APP_SECRET = "sandbox-app-secret"  # noqa: S105 - the local default, refused against Meta


class IngestSettings(CoreSettings):
    host: str = Field(default="127.0.0.1", alias="INGEST_HOST")
    port: int = Field(default=3000, alias="INGEST_PORT")
    relay_port: int = Field(
        default=3003, alias="RELAY_PORT", description="The relay's probes and metrics."
    )
    whatsapp_app_secret: SecretStr = Field(
        default=SecretStr(SANDBOX_APP_SECRET),
        description="Meta app secret; verifies X-Hub-Signature-256 on webhooks. Several, "
        "comma-separated, while rotating: a webhook signed with any of them is accepted.",
    )
    whatsapp_verify_token: SecretStr = Field(
        default=SecretStr("sandbox-verify-token"),
        description="Token Meta echoes in the webhook subscription handshake.",
    )
    api_keys: SecretStr | None = Field(
        default=None, description="Bootstrap keys: tenant:wn_live_…,other:wn_live_…"
    )
    single_tenant: bool = Field(
        default=False,
        description="The deployment serves one business: a tenant with no numbers of its "
        "own sends from (and keeps suppressions for) WHATSAPP_PHONE_NUMBER_ID. Otherwise "
        "such a tenant is refused with 422 no_sender_assigned.",
    )
    api_key_cache_seconds: float = Field(default=2.0, ge=0, le=4)
    api_rate_limit_per_second: float = Field(default=100, gt=0)
    api_rate_limit_burst: int = Field(default=200, ge=1)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_webhook_body_bytes: int = Field(default=3 * 1024 * 1024, ge=1024)
    outbox_relay_interval: float = Field(
        default=1.0, gt=0, description="Relay's poll period (scheduled rows, missed wake-ups)."
    )
    idempotency_ttl_hours: float = Field(default=48, ge=24)
    outbox_retention_hours: float = Field(
        default=24, gt=0, description="How long published outbox rows are kept, for inspection."
    )
    notification_retention_days: float = Field(
        default=90,
        ge=0,
        description="Days an accepted notification (number, message) is kept after its "
        "creation or scheduled send (0: forever). Set the same value for the ledger.",
    )
    webhook_inbox_retention_hours: float = Field(
        default=72,
        gt=0,
        description="How long processed raw webhook bodies (personal data) are kept.",
    )
    inbound_retention_days: float = Field(
        default=30,
        gt=0,
        description="Days inbound messages (personal data) are listed by GET /v1/inbound.",
    )

    rate_card_path: Path | None = Field(
        default=None,
        description="CSV of country,category,price,currency: Meta's prices per delivered "
        "billable message, for GET /v1/usage?cost=true (unset: the shipped example card, "
        "whose prices are examples, not Meta's).",
    )
    template_validation: bool = Field(
        default=True,
        description="Check template sends against the synced catalogue (422 unknown_template, "
        "invalid_template_parameters) before accepting them. A catalogue never synced is "
        "passed through unchecked either way.",
    )
    template_sync_seconds: float = Field(
        default=900,
        gt=0,
        description="How often the relay syncs each business account's template catalogue "
        "from Meta (also at its start, and soon after a template status webhook).",
    )

    def app_secrets(self) -> list[bytes]:
        """``WHATSAPP_APP_SECRET``'s comma-separated secrets (blanks ignored), as bytes."""
        parts = self.whatsapp_app_secret.get_secret_value().split(",")
        return [part.strip().encode() for part in parts if part.strip()]

    def sandbox_secrets(self) -> list[str]:
        names = super().sandbox_secrets() + self._defaulted("whatsapp_verify_token")
        secrets = self.app_secrets()
        if not secrets or SANDBOX_APP_SECRET.encode() in secrets:
            names.append("WHATSAPP_APP_SECRET")
        return names
