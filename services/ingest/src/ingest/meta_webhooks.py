"""Meta's webhook: signature check on the raw body, and translation into our events.

Event ids are derived from (wamid, status), so a webhook Meta delivers twice becomes the
same event twice and the ledger stores it once. Meta repeats a message's ``pricing`` on
several statuses; it becomes one ``usage.billed`` event per wamid, for the same reason.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from notif_core.events import (
    Event,
    FailedPayload,
    InboundPayload,
    MessageInboundReceived,
    MetaError,
    NotificationDelivered,
    NotificationFailed,
    NotificationRead,
    NotificationSent,
    NumberChangedPayload,
    Pricing,
    RecipientNumberChanged,
    SentPayload,
    StatusPayload,
    UsageBilled,
    UsagePayload,
)
from notif_core.ids import derived_id

PRODUCER = "ingest"
SIGNATURE_HEADER = "X-Hub-Signature-256"


def signature_valid(app_secret: bytes, raw_body: bytes, header: str | None) -> bool:
    """``sha256=<hex HMAC-SHA256(app_secret, raw body)>``, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret, raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def _timestamp(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def _notification_id(status: dict[str, Any]) -> UUID | None:
    try:
        return UUID(str(status.get("biz_opaque_callback_data")))
    except ValueError:
        return None


def _details(error: dict[str, Any]) -> str | None:
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    return str(details) if details is not None else None


def status_event(status: dict[str, Any], phone_number_id: str | None) -> Event | None:
    """One ``statuses[]`` item → one event, or None for a status we do not track."""
    wamid = str(status.get("id", ""))
    kind = status.get("status")
    if not wamid or kind not in {"sent", "delivered", "read", "failed"}:
        return None
    occurred = _timestamp(status.get("timestamp"))
    common: dict[str, Any] = {
        "producer": PRODUCER,
        "notification_id": _notification_id(status),
        "occurred_at": occurred,
    }
    if kind == "sent":
        return NotificationSent(
            event_id=derived_id(wamid, "sent"),
            payload=SentPayload(
                wamid=wamid,
                phone_number_id=phone_number_id,
                wa_id=status.get("recipient_id") or status.get("recipient_user_id"),
            ),
            **common,
        )
    if kind == "failed":
        first = next(iter(_dicts(status.get("errors"))), {})
        code = first.get("code", "unknown")
        return NotificationFailed(
            event_id=derived_id(wamid, "failed", str(code)),
            payload=FailedPayload(
                wamid=wamid,
                error=MetaError(
                    code=code,
                    title=first.get("title"),
                    message=first.get("message"),
                    details=_details(first),
                ),
            ),
            **common,
        )
    pricing = status.get("pricing")
    payload = StatusPayload(
        wamid=wamid,
        status_timestamp=occurred,
        pricing=Pricing.model_validate(pricing) if isinstance(pricing, dict) else None,
        conversation=status.get("conversation"),
    )
    model = NotificationDelivered if kind == "delivered" else NotificationRead
    return model(event_id=derived_id(wamid, kind), payload=payload, **common)


def usage_event(status: dict[str, Any]) -> Event | None:
    """Meta's price for a message, once per wamid whichever status carried it first."""
    wamid = str(status.get("id", ""))
    pricing = status.get("pricing")
    if not wamid or not isinstance(pricing, dict) or status.get("status") == "failed":
        return None
    billable = pricing.get("billable")
    return UsageBilled(
        event_id=derived_id(wamid, "usage"),
        producer=PRODUCER,
        notification_id=_notification_id(status),
        occurred_at=_timestamp(status.get("timestamp")),
        payload=UsagePayload(
            wamid=wamid,
            category=str(pricing["category"]) if pricing.get("category") else None,
            billable=billable if isinstance(billable, bool) else None,
            pricing_model=str(pricing["pricing_model"]) if pricing.get("pricing_model") else None,
        ),
    )


def _wa_id(value: Any) -> str | None:
    """A WhatsApp id as ``+`` and its digits. Ids are Meta's word, not dialled numbers:
    no validity check (the Mexican ``521`` form would fail one) may drop a message."""
    text = str(value).strip().lstrip("+") if value is not None else ""
    return "+" + text if text else None


def _sender_ids(
    message: dict[str, Any], contacts: list[dict[str, Any]]
) -> tuple[str | None, str | None]:
    """Who wrote: the WhatsApp id (``from``, else the contact's ``wa_id``) and the BSUID
    (``from_user_id``, else the contact's ``user_id``). Users with a username may come with
    the BSUID alone; the contact is the one naming the same id (or the only one)."""
    number, user_id = message.get("from"), message.get("from_user_id")
    contact = next(
        (
            c
            for c in contacts
            if (number and c.get("wa_id") == number) or (user_id and c.get("user_id") == user_id)
        ),
        contacts[0] if len(contacts) == 1 and not (number or user_id) else {},
    )
    number = number or contact.get("wa_id")
    user_id = user_id or contact.get("user_id")
    return _wa_id(number), (str(user_id).strip() or None) if user_id else None


def inbound_event(
    message: dict[str, Any], phone_number_id: str, contacts: list[dict[str, Any]] | None = None
) -> Event | None:
    wamid = str(message.get("id", ""))
    sender, user_id = _sender_ids(message, contacts or [])
    if not wamid or not (sender or user_id):
        return None
    if message.get("type") == "system":
        return number_changed_event(message, phone_number_id, sender)
    text = (message.get("text") or {}).get("body")
    return MessageInboundReceived(
        event_id=derived_id(wamid, "inbound"),
        producer=PRODUCER,
        occurred_at=_timestamp(message.get("timestamp")),
        payload=InboundPayload(
            wamid=wamid,
            from_=sender,
            user_id=user_id,
            phone_number_id=phone_number_id,
            type=str(message.get("type", "unknown")),
            text=text,
            received_at=_timestamp(message.get("timestamp")),
        ),
    )


def number_changed_event(
    message: dict[str, Any], phone_number_id: str, sender: str | None
) -> Event | None:
    """Meta's ``user_changed_number`` system message (new id in ``system.wa_id``, or
    ``new_wa_id`` in the older shape); other system messages are not ours to track."""
    system = message.get("system")
    if not isinstance(system, dict) or system.get("type") != "user_changed_number":
        return None
    new = _wa_id(system.get("wa_id") or system.get("new_wa_id"))
    if sender is None or new is None:
        return None
    wamid = str(message.get("id", ""))
    at = _timestamp(message.get("timestamp"))
    return RecipientNumberChanged(
        event_id=derived_id(wamid, "number_changed"),
        producer=PRODUCER,
        occurred_at=at,
        payload=NumberChangedPayload(
            phone_number_id=phone_number_id or None, old=sender, new=new, changed_at=at
        ),
    )


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a list; anything else in a malformed body is skipped."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def events_from_payload(payload: dict[str, Any]) -> list[Event]:
    """Every status and inbound message in a webhook body, in the order Meta listed them."""
    events: list[Event] = []
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            metadata = value.get("metadata")
            phone_number_id = (
                str(metadata.get("phone_number_id", "")) if isinstance(metadata, dict) else ""
            )
            for status in _dicts(value.get("statuses")):
                for event in (status_event(status, phone_number_id or None), usage_event(status)):
                    if event is not None:
                        events.append(event)
            contacts = _dicts(value.get("contacts"))
            for message in _dicts(value.get("messages")):
                event = inbound_event(message, phone_number_id, contacts)
                if event is not None:
                    events.append(event)
    return events
