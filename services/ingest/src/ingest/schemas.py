"""Request and response bodies of the public API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class TemplateLanguage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=2, max_length=15)
    policy: Literal["deterministic"] = "deterministic"


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    language: str | TemplateLanguage
    components: list[dict[str, Any]] = Field(default_factory=list, max_length=20)

    def to_cloud_api(self) -> dict[str, Any]:
        language = (
            {"policy": "deterministic", "code": self.language}
            if isinstance(self.language, str)
            else self.language.model_dump()
        )
        body: dict[str, Any] = {"name": self.name, "language": language}
        if self.components:
            body["components"] = self.components
        return body


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=4096)
    preview_url: bool = False


class NotificationRequest(BaseModel):
    """``to`` plus exactly one message kind."""

    model_config = ConfigDict(extra="forbid")
    to: str = Field(description="Recipient phone number, normalised to E.164.")
    template: Template | None = None
    text: Text | None = None

    @field_validator("to")
    @classmethod
    def _e164(cls, value: str) -> str:
        try:
            number = phonenumbers.parse(value if value.startswith("+") else "+" + value)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"not a phone number: {exc}") from None
        # "Possible" (right length for its country) rather than "valid": fictional test
        # ranges such as +1 555 must pass, and Meta is the judge of who is on WhatsApp.
        if not phonenumbers.is_possible_number(number):
            raise ValueError("not a possible phone number for its country code")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> NotificationRequest:
        kinds = [k for k in ("template", "text") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("exactly one of template or text is required")
        return self

    def cloud_api_message(self) -> dict[str, Any]:
        """The Cloud API message object, without ``messaging_product`` and ``to``."""
        if self.template is not None:
            return {"type": "template", "template": self.template.to_cloud_api()}
        assert self.text is not None
        return {"type": "text", "text": self.text.model_dump()}


class NotificationAccepted(BaseModel):
    id: UUID
    status: Literal["accepted"] = "accepted"


class HistoryItem(BaseModel):
    event_id: UUID
    type: str
    status: str | None
    occurred_at: datetime
    recorded_at: datetime
    data: dict[str, Any]


class NotificationView(BaseModel):
    id: UUID
    status: str
    to: str | None = None
    wamid: str | None = None
    last_error: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    history: list[HistoryItem]


class ErrorBody(BaseModel):
    """Every error answer: a stable machine-readable code plus a human message."""

    error: dict[str, Any] = Field(
        examples=[{"code": "validation_error", "message": "...", "fields": []}]
    )
