"""Dispatcher settings: the Cloud API, concurrency and retry timing."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dispatcher.breaker import BreakerConfig
from dispatcher.throttle import ThrottleConfig
from notif_core.settings import CoreSettings

WindowMode = Literal["enforce", "pass_through"]
"""``enforce``: free-form text to a window certainly closed fails without calling Meta;
``pass_through``: Meta decides."""


class DispatcherSettings(CoreSettings):
    host: str = Field(default="127.0.0.1", alias="DISPATCHER_HOST")
    port: int = Field(default=3002, alias="DISPATCHER_PORT", description="Metrics and probes.")
    whatsapp_timeout_seconds: float = Field(default=10.0, gt=0)
    http_client: Literal["httpx", "aiohttp"] = Field(
        default="aiohttp", description="HTTP library for Cloud API calls (measured choice)."
    )
    worker_concurrency: int = Field(default=16, ge=1, le=1000)
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_cap_seconds: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(
        default=4,
        ge=1,
        description="Sends before failed; each retry costs a receive, so this must stay below "
        "the dispatch queues' maxReceiveCount (checked at start).",
    )
    drain_seconds: float = Field(default=20.0, ge=0)
    sender_rate_per_second: float = Field(
        default=80, gt=0, description="Meta's throughput cap per sender number."
    )
    sender_rates: str = Field(
        default="", description="Per-number caps: phone_number_id:mps,phone_number_id:mps"
    )
    sender_pace_share: float = Field(
        default=0.98,
        gt=0,
        le=1,
        description="Share of a number's cap the throttle paces at. A send reaches Meta some "
        "milliseconds after its slot, and not always the same number; paced at the cap itself, "
        "a few late sends followed by punctual ones arrive closer than the cap allows (130429).",
    )
    sender_burst_seconds: float = Field(
        default=0.02,
        ge=0,
        description="Sends a number may make back to back, in seconds of its rate (at least "
        "one): what is left of Meta's tolerance for bursts absorbs sends that arrive late.",
    )
    pair_seconds: float = Field(default=6.0, ge=0, description="One message per pair per this.")
    pair_burst: int = Field(default=1, ge=1)
    pair_margin_seconds: float = Field(
        default=0.5, ge=0, description="Safety spacing added to PAIR_SECONDS against jitter."
    )
    rate_recovery_per_second: float = Field(default=2.0, gt=0)
    rate_decrease_factor: float = Field(
        default=0.8,
        gt=0,
        lt=1,
        description="What a 130429 (throughput reached) multiplies a number's rate by, at "
        "most once a second; it climbs back by RATE_RECOVERY_PER_SECOND.",
    )
    window_mode: WindowMode = "enforce"
    window_certain_after_seconds: float = Field(
        default=180.0,
        ge=0,
        description="Free-form text that neither the ledger nor ingest's mark sees a window "
        "for fails early (131047 without calling Meta) only when accepted this long ago: "
        "sooner, the user's webhook or its projection may still be on its way, and Meta decides.",
    )
    projection_wait_seconds: float = Field(
        default=120.0,
        ge=0,
        description="How long after ingest acknowledged an inbound message a send to its "
        "sender waits for the ledger to project it (it may be a STOP) before taking the "
        "ledger as it is.",
    )
    template_hold_seconds: float = Field(
        default=60.0,
        gt=0,
        le=900,
        description="How often a notification held for its template (TEMPLATE_UNAVAILABLE=hold) "
        "looks again whether Meta sends the template again.",
    )
    template_hold_max_hours: float = Field(
        default=24.0,
        gt=0,
        description="How long after it was due (send_at, else its acceptance) a notification may "
        "be held for its template before it fails with Meta's code (132015 paused, 132016 "
        "disabled, 132001 otherwise).",
    )
    messaging_limit_mode: Literal["hold", "off"] = Field(
        default="hold",
        description="hold: business-initiated templates (outside the recipient's 24h window) "
        "reach at most the messaging limit Meta reports of unique users per moving window, per "
        "business portfolio; the rest wait for a place. off: Meta decides.",
    )
    messaging_limit_window_seconds: float = Field(
        default=86_400.0, gt=0, description="Meta's moving window: 24 h."
    )
    messaging_limit_marketing_share: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Share of the messaging limit marketing templates may fill; the rest stays "
        "for utility and authentication templates, so marketing is held first.",
    )
    waba_portfolios: str = Field(
        default="",
        description="Business accounts that share one business portfolio (and so one messaging "
        "limit): waba_id:portfolio_id,waba_id:portfolio_id. Unnamed accounts are their own.",
    )
    breaker_probe_seconds: float = Field(default=30.0, gt=0)
    claim_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a claim holds before another replica may take it.",
    )
    takeover_grace_seconds: float = Field(
        default=120.0,
        ge=0,
        description="After an attempt that may have reached Meta unrecorded (its holder died "
        "mid-send), how long from its start to wait for Meta's statuses before sending again.",
    )

    def sandbox_secrets(self) -> list[str]:
        return super().sandbox_secrets() + self._defaulted("whatsapp_access_token")

    def throttle(self) -> ThrottleConfig:
        rates = []
        for item in filter(None, (part.strip() for part in self.sender_rates.split(","))):
            sender, _, mps = item.partition(":")
            rates.append((sender, float(mps)))
        return ThrottleConfig(
            sender_rate=self.sender_rate_per_second,
            sender_rates=tuple(rates),
            pace_share=self.sender_pace_share,
            burst_seconds=self.sender_burst_seconds,
            pair_seconds=self.pair_seconds,
            pair_burst=self.pair_burst,
            pair_margin_seconds=self.pair_margin_seconds,
            recovery_per_second=self.rate_recovery_per_second,
            decrease_factor=self.rate_decrease_factor,
        )

    def portfolio_of(self, waba_id: str) -> str:
        """The business portfolio an account's messaging limit is shared in."""
        pairs = (part.strip().partition(":") for part in self.waba_portfolios.split(","))
        named = {waba.strip(): p.strip() for waba, _, p in pairs if waba.strip() and p.strip()}
        return named.get(waba_id, waba_id)

    def breaker(self) -> BreakerConfig:
        return BreakerConfig(probe_seconds=self.breaker_probe_seconds)
