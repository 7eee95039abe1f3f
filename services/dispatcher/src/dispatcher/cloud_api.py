"""A thin client of the WhatsApp Cloud API send endpoint, on httpx or aiohttp.

Both clients are kept because the choice is a measured one (``make bench-dispatcher``);
``HTTP_CLIENT`` picks. They differ only in how the POST is made.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx

from notif_core.events import MetaError
from notif_core.identity import is_bsuid
from notif_core.meta_codes import TRANSPORT_ERROR, MetaCode


@dataclass(frozen=True)
class SendResult:
    """Either a wamid (Meta accepted the message) or Meta's error."""

    wamid: str | None = None
    wa_id: str | None = None
    user_id: str | None = None
    """The business-scoped user id Meta answered (``contacts[].user_id``) for a BSUID send."""
    error: MetaError | None = None
    unconfirmed: bool = False
    """No answer, though the request may have reached Meta (a timeout, a dropped
    connection): Meta may have accepted it."""


PHONE_NUMBER_ID = re.compile(r"[0-9]{5,20}")
"""A Meta phone number id, as ingest accepts it: ASCII digits only, so it is one segment of
the Graph API path and cannot climb to another (``/``, ``..``, ``?``, ``#``, ``%2F``)."""
INVALID_SENDER = "invalid_phone_number_id"
"""Our code (never Meta's) for a command whose sender is not a phone number id: it fails
without a call to Meta, and is not retried."""

NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, aiohttp.ClientConnectorError)
"""Transport errors raised before the request left: Meta cannot have seen it."""


class CloudApi(ABC):
    def __init__(self, *, base_url: str, version: str, access_token: str) -> None:
        self._base = base_url.rstrip("/")
        self._version = version
        self._headers = {
            "Authorization": f"Bearer {access_token}",
            "Content-Type": "application/json",
        }

    @staticmethod
    def message_body(
        to: str, message: dict[str, Any], biz_opaque_callback_data: str
    ) -> dict[str, Any]:
        """The JSON Meta expects: our message object plus recipient and callback data.

        A business-scoped user id goes in ``recipient`` and ``to`` is left out: Meta reads
        ``to`` first when both are present (docs/recipients.md gives the sources)."""
        message = {k: v for k, v in message.items() if k != "template"} | (
            {"template": _without_hints(message["template"])} if "template" in message else {}
        )
        addressed = {"recipient": to} if is_bsuid(to) else {"to": to.lstrip("+")}
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            **addressed,
            **message,
            "biz_opaque_callback_data": biz_opaque_callback_data,
        }

    def url(self, phone_number_id: str) -> str | None:
        """The send endpoint of that sender, or None when it is not a phone number id."""
        if not PHONE_NUMBER_ID.fullmatch(phone_number_id):
            return None
        path = "/".join(quote(part, safe="") for part in (self._version, phone_number_id))
        return f"{self._base}/{path}/messages"

    async def send(self, phone_number_id: str, body: dict[str, Any]) -> SendResult:
        url = self.url(phone_number_id)
        if url is None:
            return SendResult(
                error=MetaError(
                    code=INVALID_SENDER,
                    title="Not a phone number id",
                    details="phone_number_id must be 5 to 20 digits; nothing was sent to Meta",
                )
            )
        try:
            status, raw = await self._post(url, json.dumps(body).encode())
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
            return SendResult(
                error=MetaError(code=TRANSPORT_ERROR, title=type(exc).__name__, details=str(exc)),
                unconfirmed=not isinstance(exc, NOT_SENT),
            )
        return self.parse(status, raw)

    @abstractmethod
    async def _post(self, url: str, body: bytes) -> tuple[int, bytes]: ...

    @staticmethod
    def parse(status: int, raw: bytes) -> SendResult:
        try:
            data = json.loads(raw)
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if status == 200 and data.get("messages"):
            contacts = data.get("contacts") or [{}]
            contact = contacts[0] if isinstance(contacts[0], dict) else {}
            return SendResult(
                wamid=data["messages"][0]["id"],
                wa_id=_text(contact.get("wa_id")),
                user_id=_text(contact.get("user_id")),
            )
        err = data.get("error")
        if not isinstance(err, dict):
            # A 5xx without Meta's body is Meta's "something went wrong" (retried).
            code: int | str = (
                int(MetaCode.SOMETHING_WENT_WRONG) if status >= 500 else f"http_{status}"
            )
            return SendResult(error=MetaError(code=code, title=f"HTTP {status}"))
        return SendResult(
            error=MetaError(
                code=err.get("code", "unknown"),
                title=err.get("message"),
                message=err.get("message"),
                details=(err.get("error_data") or {}).get("details"),
            )
        )


def _text(value: Any) -> str | None:
    """A non-empty string Meta answered, else None (an odd shape costs no send)."""
    return value if isinstance(value, str) and value else None


def _without_hints(template: dict[str, Any]) -> dict[str, Any]:
    """Our own hints (``category``) never reach Meta."""
    return {k: v for k, v in template.items() if k != "category"}


class HttpxCloudApi(CloudApi):
    def __init__(self, client: httpx.AsyncClient, **kwargs: str) -> None:
        super().__init__(**kwargs)
        self._client = client

    async def _post(self, url: str, body: bytes) -> tuple[int, bytes]:
        response = await self._client.post(url, content=body, headers=self._headers)
        return response.status_code, response.content


class AiohttpCloudApi(CloudApi):
    def __init__(self, session: aiohttp.ClientSession, **kwargs: str) -> None:
        super().__init__(**kwargs)
        self._session = session

    async def _post(self, url: str, body: bytes) -> tuple[int, bytes]:
        async with self._session.post(url, data=body, headers=self._headers) as response:
            return response.status, await response.read()
