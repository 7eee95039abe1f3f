"""Request validation: E.164 normalisation, exactly one message kind, Cloud API shape."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ingest.api.schemas import NotificationRequest


def test_recipient_is_normalised_to_e164() -> None:
    req = NotificationRequest.model_validate({"to": "1 (555) 123-4567", "text": {"body": "hi"}})
    assert req.to == "+15551234567"
    req = NotificationRequest.model_validate({"to": "+44 7700 900123", "text": {"body": "hi"}})
    assert req.to == "+447700900123"


@pytest.mark.parametrize("to", ["", "hello", "+1555", "+999123456789", "+4412"])
def test_impossible_numbers_are_rejected_naming_the_field(to: str) -> None:
    with pytest.raises(ValidationError) as info:
        NotificationRequest.model_validate({"to": to, "text": {"body": "hi"}})
    assert info.value.errors()[0]["loc"] == ("to",)


@pytest.mark.parametrize(
    "body",
    [
        {"to": "+15551234567"},
        {
            "to": "+15551234567",
            "text": {"body": "a"},
            "template": {"name": "t", "language": "en_US"},
        },
    ],
)
def test_exactly_one_message_kind(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="exactly one of template, text, image"):
        NotificationRequest.model_validate(body)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        NotificationRequest.model_validate({"to": "+15551234567", "text": {"body": "a"}, "x": 1})


def test_template_becomes_cloud_api_template() -> None:
    req = NotificationRequest.model_validate(
        {
            "to": "+15551234567",
            "template": {
                "name": "order_update",
                "language": "en_US",
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "A"}]}],
            },
        }
    )
    assert req.cloud_api_message() == {
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"policy": "deterministic", "code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "A"}]}],
        },
    }


def test_text_becomes_cloud_api_text() -> None:
    req = NotificationRequest.model_validate({"to": "+15551234567", "text": {"body": "Shipped"}})
    assert req.cloud_api_message() == {
        "type": "text",
        "text": {"body": "Shipped", "preview_url": False},
    }


@pytest.mark.parametrize("kind", ["limited_time_offer", "carousel", "BODY", "header"])
def test_every_component_type_of_meta_s_is_taken(kind: str) -> None:
    component = {"type": kind, "parameters": []}
    request = NotificationRequest.model_validate(
        {
            "to": "+14155550100",
            "template": {"name": "offer", "language": "en", "components": [component]},
        }
    )
    assert request.cloud_api_message()["template"]["components"] == [component]


@pytest.mark.parametrize("kind", [None, 7, "", "x" * 33, "body<script>"])
def test_a_component_without_a_type_is_refused(kind: object) -> None:
    with pytest.raises(ValidationError, match=r"components\[0\]\.type"):
        NotificationRequest.model_validate(
            {
                "to": "+14155550100",
                "template": {"name": "offer", "language": "en", "components": [{"type": kind}]},
            }
        )


def test_a_scheduled_notification_carries_when_it_is_due() -> None:
    from datetime import UTC, datetime, timedelta
    from uuid import uuid4

    from ingest.account.keys import Tenant
    from ingest.notifications.accept import prepare

    tenant = Tenant(uuid4(), "t", ("100000000000001",), None, None, uuid4(), "wn_live_x")
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    due = now + timedelta(hours=2)
    body = {"to": "+14155550100", "text": {"body": "later"}, "send_at": due.isoformat()}
    scheduled = prepare(tenant, NotificationRequest.model_validate(body), now)
    assert scheduled.event.payload.send_at == due
    at_once = prepare(tenant, NotificationRequest.model_validate(body | {"send_at": None}), now)
    assert at_once.event.payload.send_at is None


FREE_FORM = {
    "interactive": {
        "type": "cta_url",
        "body": {"text": "Follow your parcel"},
        "action": {
            "name": "cta_url",
            "parameters": {"display_text": "Track", "url": "https://example.com/t/1"},
        },
    },
    "location": {"latitude": "37.4421", "longitude": -122.1624},
    "contacts": [{"name": {"formatted_name": "Ana Silva"}}],
    "reaction": {"message_id": "wamid.HBgLMTQxNTU1NTAxMDEVAgASGBQz", "emoji": "🎉"},
}


@pytest.mark.parametrize("kind", list(FREE_FORM))
def test_a_free_form_kind_is_the_request_s_one_kind_and_goes_to_meta_as_given(kind: str) -> None:
    request = NotificationRequest.model_validate({"to": "+14155550100", kind: FREE_FORM[kind]})
    assert request.kinds() == [kind]
    assert request.cloud_api_message() == {"type": kind, kind: FREE_FORM[kind]}
    assert request.effective_priority() == "normal"


@pytest.mark.parametrize("other", ["text", "contacts"])
def test_a_free_form_kind_with_another_is_refused(other: str) -> None:
    body = {"to": "+14155550100", "reaction": FREE_FORM["reaction"]}
    body[other] = FREE_FORM.get(other, {"body": "hi"})
    with pytest.raises(ValidationError, match=r"exactly one of .*interactive, location"):
        NotificationRequest.model_validate(body)
