"""Settings every service shares, read from the environment by pydantic-settings.

Services subclass :class:`CoreSettings` and add their own fields; the defaults match the
local stack that ``make run`` starts, so a service started by hand in a dev shell works.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:55432/notif"
SANDBOX_API_BASE_URL = "http://127.0.0.1:3900"
META_DOMAIN = "facebook.com"


def meta_host(url: str) -> str | None:
    """The host of ``url`` when it is Meta's (``facebook.com`` or any ``*.facebook.com``,
    ``graph.facebook.com`` for the Cloud API), else None. A URL written without its scheme
    counts too: a typo must not turn the production checks off."""
    text = url.strip()
    if "//" not in text:
        text = "//" + text
    try:
        host = (urlsplit(text).hostname or "").rstrip(".")
    except ValueError:
        return None
    return host if host == META_DOMAIN or host.endswith("." + META_DOMAIN) else None


def _parse_sender_wabas(value: str, *, strict: bool = False) -> dict[str, str]:
    """``SENDER_WABAS`` (``phone_number_id:waba_id,…``) as a dict; ``strict`` raises
    ValueError for an entry that is not two ids of digits."""
    found: dict[str, str] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        sender, _, waba = (side.strip() for side in part.partition(":"))
        if not (sender.isdigit() and waba.isdigit()):
            if strict:
                raise ValueError(
                    "SENDER_WABAS entries are phone_number_id:waba_id, both Meta ids of digits "
                    f"only: {part.strip()!r}"
                )
            continue
        found[sender] = waba
    return found


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
    sqs_linger_seconds: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="How long a consumer lets a trickle gather before its next receive, and "
        "a publish or delete waits for others to share its batch call (notif_core.sqs).",
    )
    queue_prefix: str = Field(default="notif", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    redis_url: str = Field(default="redis://127.0.0.1:6379/0")
    log_level: str = Field(default="INFO")
    queue_metrics_interval: float = Field(
        default=15.0, gt=0, description="Seconds between samples of queue depth (metrics)."
    )
    whatsapp_api_base_url: str = Field(
        default=SANDBOX_API_BASE_URL,
        description="Cloud API base: the sandbox locally, https://graph.facebook.com in "
        "production. Every service reads it: pointed at Meta, a service refuses to start "
        "while a secret it uses is still the sandbox's (sandbox_secrets).",
    )
    whatsapp_phone_number_id: str = Field(
        default="100000000000001",
        description="Default sender: for notifications and suppressions that name none.",
    )
    whatsapp_api_version: str = Field(default="v21.0", pattern=r"^v\d+\.\d+$")
    whatsapp_access_token: SecretStr = Field(
        default=SecretStr("sandbox-access-token"),
        description="Cloud API token: the dispatcher sends with it, the relay syncs the "
        "template catalogues with it.",
    )
    whatsapp_waba_id: str = Field(
        default="200000000000001",
        description="The WhatsApp Business Account (WABA) of every sender number that "
        "SENDER_WABAS does not name: whose template catalogue checks its template sends.",
    )
    sender_wabas: str = Field(
        default="",
        description="Per-number business accounts: phone_number_id:waba_id,phone_number_id:waba_id",
    )
    template_unavailable: Literal["hold", "fail"] = Field(
        default="hold",
        description="What becomes of a template send whose template Meta stopped sending "
        "(PAUSED, DISABLED, REJECTED): hold: queued ones wait (the dispatcher looks again every "
        "TEMPLATE_HOLD_SECONDS) and go out once it is APPROVED again, and ingest accepts new "
        "sends of a PAUSED one; fail: they end failed with Meta's code, and ingest refuses "
        "new ones (422 template_not_approved).",
    )
    recipient_pseudonym_key: SecretStr = Field(
        default=SecretStr("local-recipient-pseudonym-key"),
        description="HMAC key of the pseudonyms an erased person's opt-outs are kept under "
        "(notif_core.erasure). Every service must share it; changing it forgets those "
        "opt-outs.",
    )
    callback_allow_private: bool = Field(
        default=False,
        description="Local development only: status callback URLs may use plain http and "
        "reach loopback, private (RFC 1918), shared (100.64/10) and unique-local (fc00::/7) "
        "addresses. Off (production): https to public addresses only. Link-local (cloud "
        "metadata), multicast and reserved addresses are refused either way "
        "(notif_core.egress). Read by ingest, the callback deliverer and notifctl.",
    )

    def waba_of(self, phone_number_id: str) -> str | None:
        """The business account a sender number belongs to, or None when it is not known.

        With SENDER_WABAS set (several businesses), a number it does not list is nobody's:
        checking it against WHATSAPP_WABA_ID's catalogue would check one business's sends
        against another's templates. Without it, every number is WHATSAPP_WABA_ID's; the
        default sender (WHATSAPP_PHONE_NUMBER_ID) always is."""
        named = self._sender_wabas()
        if phone_number_id in named:
            return named[phone_number_id]
        if not named or phone_number_id == self.whatsapp_phone_number_id:
            return self.whatsapp_waba_id
        return None

    def wabas(self) -> list[str]:
        """Every business account named by the settings, each once."""
        return list(dict.fromkeys([self.whatsapp_waba_id, *self._sender_wabas().values()]))

    def _sender_wabas(self) -> dict[str, str]:
        return _parse_sender_wabas(self.sender_wabas)

    @field_validator("whatsapp_waba_id")
    @classmethod
    def _waba_id_is_digits(cls, waba_id: str) -> str:
        """A WABA id goes into Meta's URL paths (the template and number syncs): digits only,
        as Meta's ids are, so no setting can change the path."""
        if not waba_id.strip().isdigit():
            raise ValueError(f"WHATSAPP_WABA_ID must be Meta's WABA id, digits only: {waba_id!r}")
        return waba_id.strip()

    @field_validator("sender_wabas")
    @classmethod
    def _sender_wabas_are_ids(cls, value: str) -> str:
        _parse_sender_wabas(value, strict=True)
        return value

    def sandbox_secrets(self) -> list[str]:
        """The environment names of this service's secrets that are empty or still hold
        their sandbox/local default. Services add their own secrets."""
        return self._defaulted("recipient_pseudonym_key")

    def _defaulted(self, *fields: str) -> list[str]:
        names = []
        for name in fields:
            info = type(self).model_fields[name]
            default = info.default
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(default, SecretStr):
                default = default.get_secret_value()
            if not str(value).strip() or value == default:
                names.append(info.alias or name.upper())
        return names

    def production_problem(self) -> str | None:
        """Why this configuration must not start, or None: the Cloud API base URL is
        Meta's while a secret is still the sandbox's, or while callbacks may go to private
        addresses. Names settings, never their values."""
        host = meta_host(self.whatsapp_api_base_url)
        if host is None:
            return None
        problems = []
        defaulted = self.sandbox_secrets()
        if defaulted:
            problems.append(
                f"WHATSAPP_API_BASE_URL is Meta's ({host}) but {', '.join(defaulted)} "
                f"{'is' if len(defaulted) == 1 else 'are'} empty or still the sandbox/local "
                "default: set real secrets before starting against Meta"
            )
        if self.callback_allow_private:
            problems.append(
                f"WHATSAPP_API_BASE_URL is Meta's ({host}) but CALLBACK_ALLOW_PRIVATE is on: "
                "status callbacks could reach this network; it is for local development only"
            )
        return "; ".join(problems) or None

    @field_validator("database_url")
    @classmethod
    def _use_psycopg3(cls, url: str) -> str:
        """Accept plain ``postgresql://`` URLs and pin SQLAlchemy to the psycopg 3 driver."""
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url
