"""Settings every service shares, read from the environment by pydantic-settings.

Services subclass :class:`CoreSettings` and add their own fields; the defaults match the
local stack that ``make run`` starts, so a service started by hand in a dev shell works.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:55432/notif"


class CoreSettings(BaseSettings):
    """Connection settings for PostgreSQL, SQS and Redis, plus logging."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    database_url: str = Field(default=LOCAL_DATABASE_URL, description="PostgreSQL URL.")
    db_pool_size: int = Field(default=10, ge=1, le=200)
    sqs_endpoint_url: str | None = Field(
        default=None, description="SQS endpoint; unset means AWS's regional endpoint."
    )
    aws_region: str = Field(default="us-east-1", alias="AWS_REGION")
    sqs_wait_seconds: int = Field(
        default=10, ge=0, le=20, description="Long-poll wait; also bounds how long a stop waits."
    )
    queue_prefix: str = Field(default="notif", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    redis_url: str = Field(default="redis://127.0.0.1:6379/0")
    log_level: str = Field(default="INFO")
    queue_metrics_interval: float = Field(
        default=15.0, gt=0, description="Seconds between samples of queue depth (metrics)."
    )
    whatsapp_phone_number_id: str = Field(
        default="100000000000001",
        description="Default sender: for notifications and suppressions that name none.",
    )
    recipient_pseudonym_key: SecretStr = Field(
        default=SecretStr("local-recipient-pseudonym-key"),
        description="HMAC key of the pseudonyms an erased person's opt-outs are kept under "
        "(notif_core.erasure). Every service must share it; changing it forgets those "
        "opt-outs.",
    )

    @field_validator("database_url")
    @classmethod
    def _use_psycopg3(cls, url: str) -> str:
        """Accept plain ``postgresql://`` URLs and pin SQLAlchemy to the psycopg 3 driver."""
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url
