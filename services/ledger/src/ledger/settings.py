"""Ledger settings."""

from __future__ import annotations

from pydantic import Field

from ledger.optouts import OPT_IN, OPT_OUT, Keywords
from notif_core.settings import CoreSettings


class LedgerSettings(CoreSettings):
    host: str = Field(default="127.0.0.1", alias="LEDGER_HOST")
    port: int = Field(default=3001, alias="LEDGER_PORT")
    drain_seconds: float = Field(default=20.0, ge=0)
    opt_out_keywords: str = Field(default=",".join(OPT_OUT), description="Comma-separated.")
    opt_in_keywords: str = Field(default=",".join(OPT_IN), description="Comma-separated.")

    def keywords(self) -> Keywords:
        return Keywords.from_lists(self.opt_out_keywords, self.opt_in_keywords)
