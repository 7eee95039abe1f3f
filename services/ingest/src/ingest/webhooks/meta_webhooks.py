"""Meta's webhook: signature check on the raw body, and translation into our events.

Event ids are derived from (wamid, status), so a webhook Meta delivers twice becomes the
same event twice and the ledger stores it once. Meta repeats a message's ``pricing`` on
several statuses; it becomes one ``usage.billed`` event per wamid, for the same reason.

Each status and each message is translated on its own (:func:`translate`): one that cannot
be becomes nothing and is counted, and its neighbours still become their events. Before
that, :func:`sanitised` makes every string of the body storable and sendable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from ingest.inbound import content as inbound_content
from ingest.senders.reports import (
    ACCOUNT_FIELD,
    QUALITY_FIELD,
    AccountReport,
    NumberReport,
    account_report,
    number_report,
)
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
from notif_core.identity import is_bsuid
from notif_core.ids import derived_id
from notif_core.vocabulary import NotificationStatus

PRODUCER = "ingest"
TRACKED: frozenset[NotificationStatus] = frozenset(
    {
        NotificationStatus.SENT,
        NotificationStatus.DELIVERED,
        NotificationStatus.READ,
        NotificationStatus.FAILED,
    }
)
"""The statuses of Meta's status webhooks we track, each the status of the same name."""
SIGNATURE_HEADER = "X-Hub-Signature-256"
MAX_ID = 256
"""Longest identifier (wamid, phone number id, WhatsApp id, BSUID) taken from Meta; Meta's
are well under 128 characters."""
MAX_TEXT = 8_192
"""Longest free text kept (an inbound body, an error's title, message or details): Meta
caps a text message at 4,096 characters."""
MAX_CONVERSATION_BYTES = 2_048
MAX_EVENT_BYTES = 64 * 1024
"""An event larger than this cannot come from one real status or message; far below the
256 KiB of an SQS message."""
EARLIEST = datetime(2009, 1, 1, tzinfo=UTC)
"""No WhatsApp message is older: Meta's timestamps before it, or over a day ahead of our
clock, are not believed."""
AHEAD = timedelta(days=1)
ItemKind = Literal["status", "message", "template", "sender"]
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""NUL (PostgreSQL's jsonb refuses it) and lone surrogates (no UTF-8 encodes them)."""


class Untranslatable(ValueError):
    """A status or message of a shape no event can carry (no id, an absurd id, …)."""


@dataclass(frozen=True)
class TemplateChange:
    """A ``message_template_status_update`` item: Meta changed a template's status.

    ``value`` is ``{"event", "message_template_id", "message_template_name",
    "message_template_language", "reason"}`` ("Webhooks: message_template_status_update",
    developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/
    message_template_status_update); ``entry[].id`` is the business account. ``status`` is
    what the template can be sent as from now (REINSTATED is APPROVED again), or None for
    an event that changes no status (FLAGGED: a warning before a pause)."""

    waba_id: str
    meta_id: str | None
    name: str
    language: str
    status: str | None


TEMPLATE_STATUS_FIELD = "message_template_status_update"
TEMPLATE_CATEGORY_FIELD = "template_category_update"
_STATUSES = frozenset({"APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED", "IN_APPEAL"})
"""Events that are a template status; others (FLAGGED, LOCKED, LIMIT_EXCEEDED, …) change
none and only ask for the next sync."""
_STATUS_OF_EVENT = {"REINSTATED": "APPROVED"}


@dataclass
class Translation:
    """The events of a webhook body, the template changes and the reports of a number's or
    an account's standing it carries, and the kinds of the items that became none."""

    events: list[Event] = field(default_factory=list)
    untranslated: list[ItemKind] = field(default_factory=list)
    templates: list[TemplateChange] = field(default_factory=list)
    senders: list[NumberReport | AccountReport] = field(default_factory=list)

    @property
    def changes_state(self) -> bool:
        """It changes more than the outbox: a template's status or a sender's standing."""
        return bool(self.templates or self.senders)


def template_change(waba_id: Any, value: dict[str, Any], field: str) -> TemplateChange:
    """Raises ValueError for an item without business account, template or event. A
    ``template_category_update`` (Meta: "Webhooks reference: template_category_update")
    changes no status: it asks for the next sync, which brings the new category (it sets
    the notification's lane and the marketing share of the messaging limit)."""
    if field == TEMPLATE_CATEGORY_FIELD:
        value = {**value, "event": "CATEGORY_UPDATE"}
    event = value.get("event")
    name, language = value.get("message_template_name"), value.get("message_template_language")
    if not all(
        isinstance(v, str) and 0 < len(v) <= MAX_ID for v in (waba_id, event, name, language)
    ):
        raise ValueError("a template status item needs its account, event, name and language")
    meta_id = value.get("message_template_id")
    event = str(event).upper()
    return TemplateChange(
        waba_id=str(waba_id),
        meta_id=str(meta_id) if isinstance(meta_id, int | str) and str(meta_id) else None,
        name=str(name),
        language=str(language),
        status=_STATUS_OF_EVENT.get(event, event if event in _STATUSES else None),
    )


def clean_text(text: str) -> str:
    return _UNSTORABLE.sub("\ufffd", text)


def sanitised(payload: Any) -> Any:
    """A copy of a parsed JSON body with every string (keys too) :func:`clean_text`-ed.
    Iterative, so that no nesting depth the parser accepted can exhaust the stack."""
    if isinstance(payload, str):
        return clean_text(payload)
    if not isinstance(payload, dict | list):
        return payload
    root: dict[str, Any] | list[Any] = {} if isinstance(payload, dict) else []
    pending: list[tuple[Any, dict[str, Any] | list[Any]]] = [(payload, root)]
    while pending:
        source, target = pending.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            copy: Any = item
            if isinstance(item, dict | list):
                copy = {} if isinstance(item, dict) else []
                pending.append((item, copy))
            elif isinstance(item, str):
                copy = clean_text(item)
            if isinstance(target, dict):
                target[clean_text(str(key))] = copy
            else:
                target.append(copy)
    return root


def signature_valid(
    app_secrets: bytes | Sequence[bytes], raw_body: bytes, header: str | None
) -> bool:
    """``sha256=<hex HMAC-SHA256(app_secret, raw body)>`` for any of the app secrets (several
    while one is rotated out). Each is compared in constant time, and all of them always
    are, so the time taken does not tell which one matched."""
    if not header or not header.startswith("sha256="):
        return False
    given = header.removeprefix("sha256=").encode("utf-8", "surrogateescape")
    secrets = [app_secrets] if isinstance(app_secrets, bytes) else app_secrets
    matches = [
        hmac.compare_digest(hmac.new(secret, raw_body, hashlib.sha256).hexdigest().encode(), given)
        for secret in secrets
    ]
    return any(matches)


def _timestamp(value: Any) -> datetime:
    """Meta's epoch seconds; receipt time when absent, malformed or out of any sane range."""
    now = datetime.now(UTC)
    try:
        at = datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return now
    return at if EARLIEST <= at <= now + AHEAD else now


def _id(value: Any) -> str | None:
    """An identifier as text, or None when absent or too long to be one."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text if text and len(text) <= MAX_ID else None


def _wamid(item: dict[str, Any]) -> str:
    wamid = _id(item.get("id"))
    if wamid is None:
        raise Untranslatable("no usable id")
    return wamid


def _text(value: Any) -> str | None:
    """Free text as Meta gave it, bounded; None for anything that is not text."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value)[:MAX_TEXT]


def _conversation(value: Any) -> dict[str, Any] | None:
    """Meta's ``conversation`` object, when it is one of a plausible size."""
    if not isinstance(value, dict):
        return None
    try:
        size = len(json.dumps(value, default=str, allow_nan=False).encode())
    except ValueError:  # Infinity or NaN somewhere inside
        return None
    return value if size <= MAX_CONVERSATION_BYTES else None


def _pricing(value: Any) -> Pricing | None:
    """Meta's ``pricing``; the model takes what it knows and reads odd values as absent."""
    if not isinstance(value, dict):
        return None
    return Pricing.model_validate(
        {k: _id(v) if isinstance(v, str) else v for k, v in value.items()}
    )


def _code(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _id(value) or "unknown"


def _notification_id(status: dict[str, Any]) -> UUID | None:
    try:
        return UUID(str(status.get("biz_opaque_callback_data")))
    except ValueError:
        return None


def _details(error: dict[str, Any]) -> str | None:
    data = error.get("error_data")
    return _text(data.get("details")) if isinstance(data, dict) else None


def status_event(status: dict[str, Any], phone_number_id: str | None) -> Event | None:
    """One ``statuses[]`` item → one event, or None for a status we do not track.

    Raises :class:`Untranslatable` for a tracked status without a usable wamid."""
    if status.get("status") not in TRACKED:
        return None
    kind = NotificationStatus(status["status"])
    wamid = _wamid(status)
    occurred = _timestamp(status.get("timestamp"))
    common: dict[str, Any] = {
        "producer": PRODUCER,
        "notification_id": _notification_id(status),
        "occurred_at": occurred,
    }
    if kind is NotificationStatus.SENT:
        return NotificationSent(
            event_id=derived_id(wamid, kind),
            payload=SentPayload(
                wamid=wamid,
                phone_number_id=phone_number_id,
                wa_id=_id(status.get("recipient_id")) or _id(status.get("recipient_user_id")),
            ),
            **common,
        )
    if kind is NotificationStatus.FAILED:
        first = next(iter(_dicts(status.get("errors"))), {})
        code = _code(first.get("code"))
        return NotificationFailed(
            event_id=derived_id(wamid, kind, str(code)),
            payload=FailedPayload(
                wamid=wamid,
                error=MetaError(
                    code=code,
                    title=_text(first.get("title")),
                    message=_text(first.get("message")),
                    details=_details(first),
                ),
            ),
            **common,
        )
    pricing = status.get("pricing")
    payload = StatusPayload(
        wamid=wamid,
        status_timestamp=occurred,
        pricing=_pricing(pricing),
        conversation=_conversation(status.get("conversation")),
    )
    model = NotificationDelivered if kind is NotificationStatus.DELIVERED else NotificationRead
    return model(event_id=derived_id(wamid, kind), payload=payload, **common)


def usage_event(status: dict[str, Any]) -> Event | None:
    """Meta's price for a message, once per wamid whichever status carried it first."""
    pricing = status.get("pricing")
    if not isinstance(pricing, dict) or status.get("status") == NotificationStatus.FAILED:
        return None
    wamid = _wamid(status)
    billable = pricing.get("billable")
    return UsageBilled(
        event_id=derived_id(wamid, "usage"),
        producer=PRODUCER,
        notification_id=_notification_id(status),
        occurred_at=_timestamp(status.get("timestamp")),
        payload=UsagePayload(
            wamid=wamid,
            category=_id(pricing.get("category")),
            billable=billable if isinstance(billable, bool) else None,
            pricing_model=_id(pricing.get("pricing_model")),
        ),
    )


def _wa_id(value: Any) -> str | None:
    """A WhatsApp id as ``+`` and its digits; None for anything that is not digits. Ids are
    Meta's word, not dialled numbers: no validity check beyond that (the Mexican ``521``
    form would fail one) may drop a message."""
    text = (_id(value) or "").lstrip("+")
    return "+" + text if text.isascii() and text.isdigit() else None


def _user_id(value: Any) -> str | None:
    """A business-scoped user id (BSUID) in Meta's form; None for anything else (a NUL
    made printable, say), which no tenant could match."""
    text = _id(value)
    return text if text is not None and is_bsuid(text) else None


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
    return _wa_id(number), _user_id(user_id)


def inbound_event(
    message: dict[str, Any], phone_number_id: str, contacts: list[dict[str, Any]] | None = None
) -> Event | None:
    """One ``messages[]`` item → its event, or None for a system message we do not track.

    Raises :class:`Untranslatable` for a message without a usable id, sender or number."""
    wamid = _wamid(message)
    sender, user_id = _sender_ids(message, contacts or [])
    if not (sender or user_id):
        raise Untranslatable("no usable sender")
    if len(phone_number_id) > MAX_ID:
        raise Untranslatable("no usable phone number id")
    if message.get("type") == "system":
        return number_changed_event(message, phone_number_id, sender)
    body = message.get("text")
    text = _text(body.get("body")) if isinstance(body, dict) else None
    kind, found = inbound_content.content(message)
    return MessageInboundReceived(
        event_id=derived_id(wamid, "inbound"),
        producer=PRODUCER,
        occurred_at=_timestamp(message.get("timestamp")),
        payload=InboundPayload(
            wamid=wamid,
            from_=sender,
            user_id=user_id,
            phone_number_id=phone_number_id,
            type=kind,
            text=text,
            received_at=_timestamp(message.get("timestamp")),
            content=found,
            context_wamid=inbound_content.replied_to(message, kind, found),
            profile_name=_profile_name(contacts or [], sender, user_id),
        ),
    )


def _profile_name(
    contacts: list[dict[str, Any]], sender: str | None, user_id: str | None
) -> str | None:
    """The name the writer set in WhatsApp, from the contact naming them (or the only one)."""
    digits = sender.lstrip("+") if sender else None
    contact = next(
        (
            c
            for c in contacts
            if (digits and c.get("wa_id") == digits) or (user_id and c.get("user_id") == user_id)
        ),
        contacts[0] if len(contacts) == 1 else {},
    )
    profile = contact.get("profile")
    name = profile.get("name") if isinstance(profile, dict) else None
    return name[:256] if isinstance(name, str) and name.strip() else None


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
    wamid = _wamid(message)
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


def _fits(events: list[Event | None]) -> list[Event]:
    """The events of one item, each serialisable and small enough to travel on a queue."""
    kept = [e for e in events if e is not None]
    for event in kept:
        if len(event.model_dump_json().encode()) > MAX_EVENT_BYTES:
            raise Untranslatable(f"{event.type} over {MAX_EVENT_BYTES} bytes")
    return kept


def _phone_number_id(value: dict[str, Any]) -> str:
    metadata = value.get("metadata")
    raw = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    return str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""


def translate(payload: Any) -> Translation:
    """Every status and inbound message of a :func:`sanitised` webhook body, in the order
    Meta listed them, each translated on its own."""
    out = Translation()
    if not isinstance(payload, dict):
        return out
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            field_name = change.get("field")
            if field_name in (TEMPLATE_STATUS_FIELD, TEMPLATE_CATEGORY_FIELD):
                try:
                    out.templates.append(template_change(entry.get("id"), value, field_name))
                except ValueError:
                    out.untranslated.append("template")
                continue
            if field_name in (QUALITY_FIELD, ACCOUNT_FIELD):
                read = number_report if field_name == QUALITY_FIELD else account_report
                try:
                    out.senders.append(read(entry.get("id"), value, entry.get("time")))
                except ValueError:
                    out.untranslated.append("sender")
                continue
            phone_number_id = _phone_number_id(value)
            status_sender = phone_number_id if len(phone_number_id) <= MAX_ID else ""
            for status in _dicts(value.get("statuses")):
                try:
                    out.events += _fits(
                        [status_event(status, status_sender or None), usage_event(status)]
                    )
                except Exception:  # Meta's shape, not our fault: count it, keep the rest
                    out.untranslated.append("status")
            contacts = _dicts(value.get("contacts"))
            for message in _dicts(value.get("messages")):
                try:
                    out.events += _fits([inbound_event(message, phone_number_id, contacts)])
                except Exception:
                    out.untranslated.append("message")
    return out


def events_from_payload(payload: dict[str, Any]) -> list[Event]:
    """The events of a parsed webhook body (sanitised here), untranslatable items left out."""
    return translate(sanitised(payload)).events
