"""Event contracts: every type round-trips, the discriminator picks the right model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from notif_core import events as ev
from notif_core.ids import derived_id, new_id

SAMPLE_PAYLOADS: dict[str, dict[str, Any]] = {
    "notification.accepted": {
        "to": "+15551234567",
        "message": {"type": "text", "text": {"body": "hi"}},
    },
    "notification.scheduled": {"send_at": "2026-12-01T10:00:00Z"},
    "notification.cancelled": {"reason": "client"},
    "notification.attempt_failed": {
        "error": {"code": 130429},
        "attempt": 1,
        "next_attempt_at": "2026-12-01T10:00:05Z",
    },
    "notification.sent": {"wamid": "wamid.X"},
    "notification.delivered": {"wamid": "wamid.X"},
    "notification.read": {"wamid": "wamid.X"},
    "notification.failed": {"error": {"code": 131026, "title": "Undeliverable"}},
    "notification.expired": {"expires_at": "2026-12-01T10:00:00Z"},
    "notification.suppressed": {"reason": "opted_out"},
    "message.inbound_received": {
        "wamid": "wamid.IN",
        "from": "+15551234567",
        "phone_number_id": "1",
        "type": "text",
        "text": "STOP",
        "received_at": "2026-12-01T10:00:00Z",
    },
    "recipient.opted_out": {"recipient": "+15551234567", "source": "keyword"},
    "recipient.opted_in": {"recipient": "+15551234567", "source": "keyword"},
    "recipient.number_changed": {
        "phone_number_id": "1",
        "old": "+5215512340000",
        "new": "+5215512349999",
        "changed_at": "2026-12-01T10:00:00Z",
    },
    "recipient.erasure_requested": {"recipient": "+15551234567"},
    "recipient.erased": {
        "subjects": ["p:00"],
        "opt_outs": [{"phone_number_id": "1", "recipient": "p:00", "scope": "all"}],
    },
    "usage.billed": {"wamid": "wamid.X", "category": "utility", "billable": True},
}


def test_every_event_type_has_a_sample() -> None:
    declared = {m.model_fields["type"].default for m in ev.EVENT_TYPES}
    assert declared == set(SAMPLE_PAYLOADS)


@pytest.mark.parametrize("event_type", sorted(SAMPLE_PAYLOADS))
def test_round_trip(event_type: str) -> None:
    raw = json.dumps(
        {
            "type": event_type,
            "producer": "test",
            "notification_id": str(new_id()),
            "payload": SAMPLE_PAYLOADS[event_type],
        }
    )
    event = ev.parse_event(raw)
    assert event.type == event_type
    again = ev.parse_event(ev.dump_event(event))
    assert again == event
    assert again.version == ev.SCHEMA_VERSION


def test_inbound_sender_travels_as_from() -> None:
    event = ev.parse_event(
        json.dumps(
            {
                "type": "message.inbound_received",
                "producer": "t",
                "payload": SAMPLE_PAYLOADS["message.inbound_received"],
            }
        )
    )
    assert json.loads(ev.dump_event(event))["payload"]["from"] == "+15551234567"


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(ValidationError):
        ev.parse_event(
            json.dumps({"type": "notification.teleported", "producer": "t", "payload": {}})
        )


def test_payload_of_another_type_is_rejected() -> None:
    with pytest.raises(ValidationError):
        ev.parse_event(
            json.dumps({"type": "notification.sent", "producer": "t", "payload": {"reason": "x"}})
        )


def test_unknown_fields_are_rejected() -> None:
    payload = {**SAMPLE_PAYLOADS["notification.sent"], "surprise": 1}
    with pytest.raises(ValidationError):
        ev.parse_event(
            json.dumps({"type": "notification.sent", "producer": "t", "payload": payload})
        )


def test_new_ids_are_time_ordered_and_derived_ids_stable() -> None:
    first, second = new_id(), new_id()
    assert first.version == 7
    assert first < second
    assert derived_id("wamid.A", "read") == derived_id("wamid.A", "read")
    assert derived_id("wamid.A", "read") != derived_id("wamid.A", "delivered")
    assert derived_id("ab", "c") != derived_id("a", "bc")


def test_an_inbound_names_its_sender_by_number_or_bsuid_or_both() -> None:
    common = {
        "wamid": "wamid.IN",
        "phone_number_id": "1",
        "type": "text",
        "received_at": "2026-12-01T10:00:00Z",
    }
    bsuid_only = ev.InboundPayload.model_validate(common | {"user_id": "US.13491208655302741918"})
    assert bsuid_only.from_ is None
    assert bsuid_only.user_id == "US.13491208655302741918"
    both = ev.InboundPayload.model_validate(common | {"from": "+15551234567", "user_id": "US.1"})
    assert (both.from_, both.user_id) == ("+15551234567", "US.1")
    with pytest.raises(ValidationError):
        ev.InboundPayload.model_validate(common)
