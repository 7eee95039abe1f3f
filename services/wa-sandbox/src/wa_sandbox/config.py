"""The sandbox configuration: a TOML file, validated, changeable at runtime.

``SANDBOX_CONFIG`` names the file (the packaged ``default.toml`` otherwise). A few
``SANDBOX_*`` variables override single values so a test or ``make run`` need no file:
``SANDBOX_HOST``, ``SANDBOX_PORT``, ``SANDBOX_WEBHOOK_URL``, ``SANDBOX_APP_SECRET``,
``SANDBOX_TIME_SCALE``.
"""

from __future__ import annotations

import os
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Sender(_Strict):
    phone_number_id: str
    display_phone_number: str
    access_token: str
    throughput_mps: float = Field(default=80, gt=0, le=10_000)
    registered: bool = True
    token_expired: bool = False


class PairLimit(_Strict):
    per_seconds: float = Field(default=6.0, ge=0)
    burst: int = Field(default=1, ge=1)


class Policy(_Strict):
    window_enforced: bool = True
    window_failure: Literal["sync", "async"] = "async"
    undeliverable: list[str] = Field(default_factory=list)
    undeliverable_prefixes: list[str] = Field(default_factory=list)
    marketing_opt_outs: list[str] = Field(default_factory=list)


class Identity(_Strict):
    """How a dialled number maps to the WhatsApp id Meta reports (docs/recipients.md)."""

    brazil_nine_less_from_area_code: int = Field(default=31, ge=11, le=100)
    """Brazilian mobiles in area codes from this one up have ids without the ninth digit
    (community reports: 11-28 keep it); 100 turns the rule off."""
    mexico_mobile_ids_with_1: bool = True
    """``52`` + 10 digits has the id ``521`` + 10 digits."""
    argentina_mobile_ids_with_9: bool = True
    """``54`` + 10 digits has the id ``549`` + 10 digits."""


class Faults(_Strict):
    error_500: float = Field(default=0, ge=0, le=1)
    error_503: float = Field(default=0, ge=0, le=1)
    connection_reset: float = Field(default=0, ge=0, le=1)
    timeout: float = Field(default=0, ge=0, le=1)
    timeout_seconds: float = Field(default=30, ge=0)

    @model_validator(mode="after")
    def _at_most_one(self) -> Faults:
        if self.error_500 + self.error_503 + self.connection_reset + self.timeout > 1:
            raise ValueError("fault ratios add up to more than 1")
        return self


class Latency(_Strict):
    fixed_ms: float = Field(default=0, ge=0)
    jitter_ms: float = Field(default=0, ge=0)


class Webhooks(_Strict):
    sent_delay: float = Field(default=0.05, ge=0)
    delivered_delay: float = Field(default=0.2, ge=0)
    read_delay: float = Field(default=0.4, ge=0)
    read_ratio: float = Field(default=1.0, ge=0, le=1)
    duplicate_ratio: float = Field(default=0, ge=0, le=1)
    reorder_ratio: float = Field(default=0, ge=0, le=1)
    time_scale: float = Field(default=1.0, gt=0)
    retry_base: float = Field(default=1.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    batch_window: float = Field(default=0.02, ge=0)
    max_batch: int = Field(default=100, ge=1)


class Component(_Strict):
    """What a template component expects: how many parameters, of which format."""

    type: Literal["header", "body", "button", "footer"]
    format: Literal["text", "image", "video", "document", "location"] | None = None
    parameters: int = Field(default=0, ge=0)
    named: list[str] | None = None
    sub_type: str | None = None
    index: int | None = None


class Template(_Strict):
    name: str
    language: str
    category: Literal["marketing", "utility", "authentication"]
    components: list[Component] = Field(default_factory=list)


class SandboxConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = 3900
    app_secret: str = "sandbox-app-secret"  # noqa: S105 - public sandbox value
    webhook_url: str | None = None
    waba_id: str = "200000000000001"
    senders: list[Sender]
    pair_limit: PairLimit = Field(default_factory=PairLimit)
    policy: Policy = Field(default_factory=Policy)
    identity: Identity = Field(default_factory=Identity)
    faults: Faults = Field(default_factory=Faults)
    latency: Latency = Field(default_factory=Latency)
    webhooks: Webhooks = Field(default_factory=Webhooks)
    templates: list[Template] = Field(default_factory=list)

    def sender(self, phone_number_id: str) -> Sender | None:
        return next((s for s in self.senders if s.phone_number_id == phone_number_id), None)

    def template(self, name: str, language: str) -> Template | None:
        return next((t for t in self.templates if t.name == name and t.language == language), None)

    def merged(self, changes: dict[str, Any]) -> SandboxConfig:
        """A new config with ``changes`` deep-merged in, validated as a whole."""
        return SandboxConfig.model_validate(_deep_merge(self.model_dump(), changes))


def _deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


ENV_OVERRIDES = {
    "SANDBOX_HOST": ("host",),
    "SANDBOX_PORT": ("port",),
    "SANDBOX_WEBHOOK_URL": ("webhook_url",),
    "SANDBOX_APP_SECRET": ("app_secret",),
    "SANDBOX_TIME_SCALE": ("webhooks", "time_scale"),
}


def load(path: str | Path | None = None, env: dict[str, str] | None = None) -> SandboxConfig:
    """The config from ``path`` (or ``SANDBOX_CONFIG``, or the default) plus env overrides."""
    environ = dict(os.environ) if env is None else env
    source = path or environ.get("SANDBOX_CONFIG")
    text = (
        Path(source).read_text()
        if source
        else files("wa_sandbox").joinpath("default.toml").read_text()
    )
    data = tomllib.loads(text)
    for var, keys in ENV_OVERRIDES.items():
        if environ.get(var):
            target = data
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = environ[var]
    return SandboxConfig.model_validate(data)
