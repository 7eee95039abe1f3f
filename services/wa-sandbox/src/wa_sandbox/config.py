"""The sandbox configuration: a TOML file, validated, changeable at runtime.

``SANDBOX_CONFIG`` names the file (the packaged ``default.toml`` otherwise). A few
``SANDBOX_*`` variables override single values so a test or ``make run`` need no file:
``SANDBOX_HOST``, ``SANDBOX_PORT``, ``SANDBOX_WEBHOOK_URL``, ``SANDBOX_APP_SECRET``,
``SANDBOX_TIME_SCALE``.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


MessagingLimit = Literal[
    "TIER_NOT_SET",
    "TIER_50",
    "TIER_250",
    "TIER_1K",
    "TIER_2K",
    "TIER_10K",
    "TIER_100K",
    "TIER_UNLIMITED",
]
"""Meta's messaging-limit tiers as ``phone_number_quality_update`` names them."""

QualityRating = Literal["GREEN", "YELLOW", "RED", "UNKNOWN"]


class Sender(_Strict):
    phone_number_id: str
    display_phone_number: str
    access_token: str
    throughput_mps: float = Field(default=80, gt=0, le=10_000)
    registered: bool = True
    token_expired: bool = False
    messaging_limit: MessagingLimit = "TIER_250"
    """Reported in ``phone_number_quality_update`` webhooks and the phone-number API; not
    enforced, only counted (``GET /_sandbox/stats`` ``messaging_limits``)."""
    quality_rating: QualityRating = "GREEN"
    waba_id: str | None = None
    """The WhatsApp Business Account the number belongs to; None: the config's ``waba_id``."""


class PairLimit(_Strict):
    per_seconds: float = Field(default=6.0, ge=0)
    burst: int = Field(default=1, ge=1)


class Policy(_Strict):
    window_enforced: bool = True
    window_failure: Literal["sync", "async"] = "async"
    undeliverable: list[str] = Field(default_factory=list)
    undeliverable_prefixes: list[str] = Field(default_factory=list)
    marketing_opt_outs: list[str] = Field(default_factory=list)
    reject_parameter_whitespace: bool = True
    """Body and header text parameters with a newline, a tab or more than four consecutive
    spaces fail with 132018 (third-party reports of Meta's rule)."""
    coupon_code_max_length: int = Field(default=15, ge=1)
    """A copy-code button's ``coupon_code``: 15 in Meta's coupon-template page, 20 in a
    later revision of it."""
    otp_code_max_length: int = Field(default=15, ge=1)
    """The one-time password of an authentication template (body and button parameter)."""
    messaging_limit_window_seconds: float = Field(default=86_400, gt=0)
    """The moving window of Meta's messaging limit (24 h); shorter lets a test roll it."""


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


class Media(_Strict):
    """How long media lives (Meta: "Media": ids returned by the upload API expire after 30
    days, ids in webhooks after 7) and how long a download URL works (Meta: 5 minutes)."""

    upload_ttl_seconds: float = Field(default=30 * 86_400, gt=0)
    inbound_ttl_seconds: float = Field(default=7 * 86_400, gt=0)
    url_ttl_seconds: float = Field(default=300, gt=0)


PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
"""A variable in a template text: ``{{1}}`` or ``{{customer}}``."""

TemplateStatus = Literal["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"]


class Component(_Strict):
    """What a template component expects (how many parameters, of which format) and, for
    the catalogue, what it says. Texts left out are generated."""

    type: Literal["header", "body", "button", "footer"]
    format: Literal["text", "image", "video", "document", "location"] | None = None
    parameters: int = Field(default=0, ge=0)
    named: list[str] | None = None
    sub_type: str | None = None
    """A button's kind: ``quick_reply``, ``url``, ``copy_code``, ``flow``, ``catalog``,
    ``mpm`` (any case; kept in lower case)."""
    index: int | None = None
    text: str | None = None
    """Header, body or footer text with its ``{{n}}``/``{{name}}`` variables; a button's
    label."""
    url: str | None = None
    """A URL button's address; ``{{1}}`` marks the suffix a send supplies."""
    example: str | None = None
    """A copy-code button's sample code."""
    otp_type: Literal["COPY_CODE", "ONE_TAP", "ZERO_TAP"] = "COPY_CODE"
    """The one-time-password button of an authentication template."""

    @model_validator(mode="before")
    @classmethod
    def _copy_code_takes_a_code(cls, data: Any) -> Any:
        """A button's ``sub_type`` in lower case, as a send's is read; a copy-code button
        takes its code as one parameter unless configured otherwise."""
        if not isinstance(data, dict):
            return data
        if isinstance(data.get("sub_type"), str):
            data = {**data, "sub_type": data["sub_type"].lower()}
        if data.get("sub_type") == "copy_code" and data.get("parameters") is None:
            return {**data, "parameters": 1}
        return data

    @model_validator(mode="after")
    def _texts_match_parameters(self) -> Component:
        if self.type in ("header", "body") and self.text is not None:
            found = PLACEHOLDER.findall(self.text)
            if sorted(found) != sorted(self.variables()):
                raise ValueError(
                    f"{self.type} text has the variables {found}, "
                    f"its parameters are {self.variables()}"
                )
        if self.url is not None and self.parameters and "{{1}}" not in self.url:
            raise ValueError("a URL button with a parameter needs {{1}} in its url")
        return self

    def variables(self) -> list[str]:
        """The variable names of the component's text, in order: ``1``..``n`` or the named."""
        if self.named is not None:
            return list(self.named)
        return [str(i) for i in range(1, self.parameters + 1)]


def template_id(name: str, language: str) -> str:
    """A stable 15-digit id for a template that has none configured (Meta's template ids
    are numeric strings)."""
    digest = int(hashlib.sha256(f"{name}:{language}".encode()).hexdigest(), 16)
    return str(10**14 + digest % (9 * 10**14))


class Template(_Strict):
    id: str = Field(pattern=r"^[1-9][0-9]{0,15}$")
    name: str
    language: str
    category: Literal["marketing", "utility", "authentication"]
    status: TemplateStatus = "APPROVED"
    components: list[Component] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _derive_id(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and data.get("id") is None
            and isinstance(data.get("name"), str)
            and isinstance(data.get("language"), str)
        ):
            return {**data, "id": template_id(data["name"], data["language"])}
        return data


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
    media: Media = Field(default_factory=Media)
    templates: list[Template] = Field(default_factory=list)

    @model_validator(mode="after")
    def _templates_unique(self) -> SandboxConfig:
        pairs = [(t.name, t.language) for t in self.templates]
        if len(set(pairs)) != len(pairs):
            raise ValueError("two templates have the same name and language")
        ids = [t.id for t in self.templates]
        if len(set(ids)) != len(ids):
            raise ValueError("two templates have the same id")
        return self

    def sender(self, phone_number_id: str) -> Sender | None:
        return next((s for s in self.senders if s.phone_number_id == phone_number_id), None)

    def waba_of(self, sender: Sender) -> str:
        """The WhatsApp Business Account a sender's number belongs to."""
        return sender.waba_id or self.waba_id

    def wabas(self) -> list[str]:
        """Every business account the sandbox knows: the default one, then the senders'."""
        return list(dict.fromkeys([self.waba_id, *(self.waba_of(s) for s in self.senders)]))

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
