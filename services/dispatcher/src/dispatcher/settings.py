"""Dispatcher settings: the Cloud API, concurrency and retry timing."""

from __future__ import annotations

from pydantic import Field, SecretStr

from notif_core.settings import CoreSettings


class DispatcherSettings(CoreSettings):
    host: str = Field(default="127.0.0.1", alias="DISPATCHER_HOST")
    port: int = Field(default=3002, alias="DISPATCHER_PORT", description="Metrics and probes.")
    whatsapp_api_base_url: str = Field(default="http://127.0.0.1:3900")
    whatsapp_api_version: str = Field(default="v21.0", pattern=r"^v\d+\.\d+$")
    whatsapp_phone_number_id: str = Field(default="100000000000001")
    whatsapp_access_token: SecretStr = Field(default=SecretStr("sandbox-access-token"))
    whatsapp_timeout_seconds: float = Field(default=10.0, gt=0)
    worker_concurrency: int = Field(default=16, ge=1, le=1000)
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_cap_seconds: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    drain_seconds: float = Field(default=20.0, ge=0)
    claim_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a claim holds before another replica may take it.",
    )
