"""A thin client of the WhatsApp Cloud API send endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from dispatcher.meta_errors import TRANSPORT_ERROR
from notif_core.events import MetaError


@dataclass(frozen=True)
class SendResult:
    """Either a wamid (Meta accepted the message) or Meta's error."""

    wamid: str | None = None
    wa_id: str | None = None
    error: MetaError | None = None


class CloudApi:
    def __init__(
        self, client: httpx.AsyncClient, *, base_url: str, version: str, access_token: str
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._version = version
        self._headers = {"Authorization": f"Bearer {access_token}"}

    @staticmethod
    def message_body(
        to: str, message: dict[str, Any], biz_opaque_callback_data: str
    ) -> dict[str, Any]:
        """The JSON Meta expects: our message object plus recipient and callback data."""
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to.lstrip("+"),
            **message,
            "biz_opaque_callback_data": biz_opaque_callback_data,
        }

    async def send(self, phone_number_id: str, body: dict[str, Any]) -> SendResult:
        url = f"{self._base}/{self._version}/{phone_number_id}/messages"
        try:
            response = await self._client.post(url, json=body, headers=self._headers)
        except httpx.TransportError as exc:
            return SendResult(
                error=MetaError(code=TRANSPORT_ERROR, title=type(exc).__name__, details=str(exc))
            )
        return self.parse(response)

    @staticmethod
    def parse(response: httpx.Response) -> SendResult:
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code == 200 and data.get("messages"):
            contacts = data.get("contacts") or [{}]
            return SendResult(wamid=data["messages"][0]["id"], wa_id=contacts[0].get("wa_id"))
        err = data.get("error") if isinstance(data, dict) else None
        if not isinstance(err, dict):
            code: int | str = (
                131000 if response.status_code >= 500 else "http_" + str(response.status_code)
            )
            return SendResult(error=MetaError(code=code, title=f"HTTP {response.status_code}"))
        return SendResult(
            error=MetaError(
                code=err.get("code", "unknown"),
                title=err.get("message"),
                message=err.get("message"),
                details=(err.get("error_data") or {}).get("details"),
            )
        )
