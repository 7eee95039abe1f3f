"""Marking a customer's message read, with the typing indicator, as the business.

``POST {base}/{version}/{phone-number-id}/messages`` with ``{"messaging_product":
"whatsapp", "status": "read", "message_id": <wamid>}`` shows the customer blue ticks;
``"typing_indicator": {"type": "text"}`` also shows "typing…" for up to 25 s or until the
business answers (Meta: "Mark messages as read" and "Typing indicators",
developers.facebook.com/documentation/business-messaging/whatsapp/messages/
mark-message-as-read, .../typing-indicators). Meta answers ``{"success": true}``.
"""

from __future__ import annotations

import httpx

from ingest import meta_graph
from ingest.settings import IngestSettings


class MetaRefused(Exception):
    """Meta refused the call (its code, or None) or could not be reached."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def mark_read(
    client: httpx.AsyncClient,
    settings: IngestSettings,
    phone_number_id: str,
    wamid: str,
    *,
    typing: bool,
) -> None:
    """Raises :class:`MetaRefused`."""
    body: dict[str, object] = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
    }
    if typing:
        body["typing_indicator"] = {"type": "text"}
    try:
        response = await client.post(
            meta_graph.url(settings, phone_number_id, "messages"),
            json=body,
            headers=meta_graph.auth(settings),
        )
    except (httpx.HTTPError, meta_graph.GraphError) as exc:
        raise MetaRefused(None, f"{type(exc).__name__} calling Meta") from exc
    if response.status_code != 200:
        raise MetaRefused(*meta_graph.error_of(response))
