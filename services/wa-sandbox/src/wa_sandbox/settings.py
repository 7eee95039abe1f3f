"""Sandbox configuration from ``SANDBOX_*`` environment variables.

The defaults are the ones ``make run`` uses, and match the dispatcher's and ingest's defaults.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 3900
    phone_number_id: str = "100000000000001"
    display_phone_number: str = "15550001111"
    waba_id: str = "200000000000001"
    access_token: str = "sandbox-access-token"  # noqa: S105 - public sandbox value
    app_secret: str = "sandbox-app-secret"  # noqa: S105 - public sandbox value
    webhook_url: str | None = "http://127.0.0.1:3000/webhooks/whatsapp"
    sent_delay: float = Field(default=0.05, ge=0)
    delivered_delay: float = Field(default=0.2, ge=0)
    read_delay: float = Field(default=0.4, ge=0)
    webhook_attempts: int = Field(default=8, ge=1)
    webhook_retry_base: float = Field(default=0.5, gt=0)
