"""Ingest settings: the shared connections plus the API port and webhook secrets."""

from __future__ import annotations

from pydantic import Field, SecretStr

from notif_core.settings import CoreSettings


class IngestSettings(CoreSettings):
    host: str = Field(default="127.0.0.1", alias="INGEST_HOST")
    port: int = Field(default=3000, alias="INGEST_PORT")
    whatsapp_app_secret: SecretStr = Field(
        default=SecretStr("sandbox-app-secret"),
        description="Meta app secret; verifies X-Hub-Signature-256 on webhooks.",
    )
    whatsapp_verify_token: SecretStr = Field(
        default=SecretStr("sandbox-verify-token"),
        description="Token Meta echoes in the webhook subscription handshake.",
    )
    outbox_relay_interval: float = Field(default=1.0, gt=0)
    outbox_relay_grace: float = Field(
        default=2.0, ge=0, description="Age before the relay takes over an unpublished row."
    )
