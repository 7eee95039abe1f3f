"""Meta webhook translation and signature checks."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from ingest.webhooks.meta_webhooks import events_from_payload, signature_valid
from notif_core.ids import new_id

SECRET = b"app-secret"


def envelope(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "1555", "phone_number_id": "PN"},
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def test_signature_is_checked_on_the_exact_bytes() -> None:
    body = json.dumps(envelope({"statuses": []})).encode()
    good = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert signature_valid(SECRET, body, good)
    assert not signature_valid(SECRET, body + b" ", good)
    assert not signature_valid(b"other", body, good)
    assert not signature_valid(SECRET, body, None)
    assert not signature_valid(SECRET, body, good.removeprefix("sha256="))


def test_statuses_become_events_with_stable_ids() -> None:
    nid = new_id()
    statuses = [
        {
            "id": "wamid.A",
            "status": s,
            "timestamp": "1764244800",
            "recipient_id": "15551234567",
            "biz_opaque_callback_data": str(nid),
        }
        for s in ("sent", "delivered", "read")
    ]
    first = events_from_payload(envelope({"statuses": statuses}))
    again = events_from_payload(envelope({"statuses": statuses}))
    assert not any(e.type == "usage.billed" for e in first)  # no pricing, no usage
    assert [e.type for e in first] == [
        "notification.sent",
        "notification.delivered",
        "notification.read",
    ]
    assert [e.event_id for e in first] == [e.event_id for e in again]
    assert all(e.notification_id == nid for e in first)
    assert first[0].occurred_at.timestamp() == 1764244800


def test_pricing_becomes_one_usage_event_per_message() -> None:
    pricing = {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}
    statuses = [
        {"id": "wamid.P", "status": s, "timestamp": "1764244800", "pricing": pricing}
        for s in ("sent", "delivered")
    ]
    found = events_from_payload(envelope({"statuses": statuses}))
    usage = [e for e in found if e.type == "usage.billed"]
    assert len(usage) == 2
    assert usage[0].event_id == usage[1].event_id  # the ledger stores it once
    assert usage[0].payload.model_dump() == {
        "wamid": "wamid.P",
        "category": "utility",
        "billable": True,
        "pricing_model": "PMP",
    }
    failed = {"id": "wamid.Q", "status": "failed", "pricing": pricing, "errors": [{"code": 1}]}
    assert [e.type for e in events_from_payload(envelope({"statuses": [failed]}))] == [
        "notification.failed"
    ]


def test_failed_status_carries_meta_code_and_details() -> None:
    status = {
        "id": "wamid.F",
        "status": "failed",
        "timestamp": "1764244800",
        "recipient_id": "15551234567",
        "errors": [
            {
                "code": 131026,
                "title": "Message undeliverable",
                "error_data": {"details": "not on WhatsApp"},
            }
        ],
    }
    (event,) = events_from_payload(envelope({"statuses": [status]}))
    assert event.type == "notification.failed"
    assert event.notification_id is None  # matched by wamid in the ledger
    error = event.payload.error
    assert (error.code, error.details) == (131026, "not on WhatsApp")


def test_inbound_message_and_garbage_are_told_apart() -> None:
    value = {
        "messages": [
            {
                "from": "15551234567",
                "id": "wamid.IN",
                "timestamp": "1764244800",
                "type": "text",
                "text": {"body": "STOP"},
            },
            {"id": "", "from": ""},
        ],
        "statuses": [{"id": "wamid.X", "status": "deleted"}, {"status": "sent"}],
    }
    (event,) = events_from_payload(envelope(value))
    assert event.type == "message.inbound_received"
    assert event.payload.from_ == "+15551234567"
    assert event.payload.phone_number_id == "PN"
    assert events_from_payload({"entry": "nonsense"}) == []


def test_an_inbound_is_kept_whatever_form_its_sender_has() -> None:
    """A Mexican ``521`` id (invalid to libphonenumber), and a username user with a BSUID
    and no number: both become inbound events, keyed by what Meta sent."""
    value = {
        "metadata": {"phone_number_id": "100"},
        "contacts": [
            {"profile": {"name": "A"}, "wa_id": "5215587654321"},
            {"profile": {"name": "B", "username": "@b"}, "user_id": "US.13491208655302741918"},
        ],
        "messages": [
            {
                "from": "5215587654321",
                "id": "wamid.MX",
                "timestamp": "1",
                "type": "text",
                "text": {"body": "hi"},
            },
            {
                "from_user_id": "US.13491208655302741918",
                "id": "wamid.U",
                "timestamp": "1",
                "type": "text",
                "text": {"body": "STOP"},
            },
        ],
    }
    mexico, username = events_from_payload(envelope(value))
    assert mexico.payload.from_ == "+5215587654321"  # type: ignore[union-attr]
    assert username.payload.from_ is None  # type: ignore[union-attr]
    assert username.payload.user_id == "US.13491208655302741918"  # type: ignore[union-attr]


def test_a_number_change_becomes_its_own_event() -> None:
    for system in (
        {"type": "user_changed_number", "wa_id": "5215512349999", "body": "changed"},
        {"type": "user_changed_number", "new_wa_id": "5215512349999", "body": "changed"},
    ):
        message = {
            "from": "5215512340000",
            "id": f"wamid.{new_id()}",
            "timestamp": "1",
            "type": "system",
            "system": system,
        }
        value = {"metadata": {"phone_number_id": "100"}, "messages": [message]}
        (event,) = events_from_payload(envelope(value))
        assert event.type == "recipient.number_changed"
        assert (event.payload.old, event.payload.new) == (
            "+5215512340000",
            "+5215512349999",
        )
