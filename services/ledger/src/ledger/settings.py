"""Ledger settings."""

from __future__ import annotations

from pydantic import Field

from ledger.callbacks import DeliveryConfig
from ledger.optouts import OPT_IN, OPT_OUT, Keywords
from notif_core.backoff import RetryPolicy
from notif_core.settings import CoreSettings


class LedgerSettings(CoreSettings):
    host: str = Field(default="127.0.0.1", alias="LEDGER_HOST")
    port: int = Field(default=3001, alias="LEDGER_PORT")
    callbacks_port: int = Field(
        default=3004,
        alias="CALLBACKS_PORT",
        description="Probes and metrics of the callback deliverer (notif-ledger callbacks).",
    )
    drain_seconds: float = Field(default=20.0, ge=0)
    opt_out_keywords: str = Field(default=",".join(OPT_OUT), description="Comma-separated.")
    opt_in_keywords: str = Field(default=",".join(OPT_IN), description="Comma-separated.")
    batch_size: int = Field(
        default=200,
        ge=1,
        le=1000,
        alias="LEDGER_BATCH_SIZE",
        description="Events appended per transaction when the queue has a backlog.",
    )
    notification_retention_days: float = Field(
        default=90,
        ge=0,
        description="Days a finished notification, its events and inbound messages are kept "
        "(0: forever). Set the same value for ingest.",
    )
    callback_retry_base_seconds: float = Field(default=10.0, gt=0)
    callback_retry_cap_seconds: float = Field(default=3600.0, gt=0)
    callback_max_age_seconds: float = Field(
        default=86_400.0, gt=0, description="Give up on a callback this long after its change."
    )
    callback_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Total deadline of one attempt, connect to last byte."
    )
    callback_concurrency: int = Field(
        default=50, ge=1, le=500, description="Attempts in flight per deliverer process."
    )
    callback_per_host: int = Field(
        default=4, ge=1, le=100, description="Attempts in flight to one receiver (host:port)."
    )
    callback_per_tenant: int = Field(
        default=10,
        ge=1,
        le=500,
        description="Attempts in flight for one tenant (never all of CALLBACK_CONCURRENCY).",
    )
    callback_max_response_bytes: int = Field(
        default=4096, ge=0, le=65_536, description="Bytes of an answer read, at most."
    )

    def keywords(self) -> Keywords:
        return Keywords.from_lists(self.opt_out_keywords, self.opt_in_keywords)

    def callbacks(self) -> DeliveryConfig:
        return DeliveryConfig(
            retry=RetryPolicy(
                self.callback_retry_base_seconds, self.callback_retry_cap_seconds, max_attempts=0
            ),
            max_age_seconds=self.callback_max_age_seconds,
            timeout_seconds=self.callback_timeout_seconds,
            concurrency=self.callback_concurrency,
            per_host=self.callback_per_host,
            per_tenant=self.callback_per_tenant,
            max_response_bytes=self.callback_max_response_bytes,
        )
