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
    callback_retry_base_seconds: float = Field(default=10.0, gt=0)
    callback_retry_cap_seconds: float = Field(default=3600.0, gt=0)
    callback_max_age_seconds: float = Field(
        default=86_400.0, gt=0, description="Give up on a callback this long after its change."
    )
    callback_timeout_seconds: float = Field(default=10.0, gt=0)
    callback_concurrency: int = Field(default=50, ge=1, le=500)

    def keywords(self) -> Keywords:
        return Keywords.from_lists(self.opt_out_keywords, self.opt_in_keywords)

    def callbacks(self) -> DeliveryConfig:
        return DeliveryConfig(
            retry=RetryPolicy(
                self.callback_retry_base_seconds, self.callback_retry_cap_seconds, max_attempts=0
            ),
            max_age_seconds=self.callback_max_age_seconds,
            timeout_seconds=self.callback_timeout_seconds,
            batch=self.callback_concurrency,
        )
