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


async def mark_read(
    client: httpx.AsyncClient,
    settings: IngestSettings,
    phone_number_id: str,
    wamid: str,
    *,
    typing: bool,
) -> None:
    """Raises :class:`meta_graph.MetaRefused` or :class:`meta_graph.MetaUnavailable`."""
    body: dict[str, object] = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
    }
    if typing:
        body["typing_indicator"] = {"type": "text"}
    try:
        address = meta_graph.url(settings, phone_number_id, "messages")
    except meta_graph.GraphError as exc:
        raise meta_graph.MetaRefused(None, str(exc)) from exc
    await meta_graph.call(client.post(address, json=body, headers=meta_graph.auth(settings)))
