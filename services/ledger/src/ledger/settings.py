"""Ledger settings."""

from __future__ import annotations

from pydantic import Field

from notif_core.settings import CoreSettings


class LedgerSettings(CoreSettings):
    host: str = Field(default="127.0.0.1", alias="LEDGER_HOST")
    port: int = Field(default=3001, alias="LEDGER_PORT")
    drain_seconds: float = Field(default=20.0, ge=0)
