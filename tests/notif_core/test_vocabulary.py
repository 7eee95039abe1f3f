"""The shared vocabulary: statuses and their order, claim states, scopes and priorities,
recipients in E.164, and the envelope of events that always name their notification."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from pydantic import BaseModel, ValidationError

from notif_core import events as ev
from notif_core.identity import (
    UNKNOWN_COUNTRY,
    Recipient,
    bsuid_country,
    country,
    e164,
    recipient_form,
    send_recipient,
)
from notif_core.ids import new_id
from notif_core.vocabulary import (
    ENDS_FROM,
    PROGRESS,
    SCOPES,
    TERMINAL,
    UNSENT,
    ClaimState,
    NotificationStatus,
    Priority,
    StatusName,
)

# --- statuses -------------------------------------------------------------------------------


def test_every_status_the_fold_knows_is_a_notification_status() -> None:
    """The ledger's fold reads statuses from STATUS_OF_EVENT: each lifecycle event type
    ``notification.<status>`` reports exactly that status, and every status has one."""
    assert all(isinstance(s, NotificationStatus) for s in ev.STATUS_OF_EVENT.values())
    assert {t: str(s) for t, s in ev.STATUS_OF_EVENT.items()} == {
        f"notification.{s}": s.value for s in NotificationStatus
    }
    types = {model.model_fields["type"].default for model in ev.EVENT_TYPES}
    assert set(ev.STATUS_OF_EVENT) <= types


def test_progress_and_terminal_split_the_statuses_in_declaration_order() -> None:
    assert set(PROGRESS).isdisjoint(TERMINAL)
    assert set(PROGRESS) | TERMINAL == set(NotificationStatus)
    assert tuple(NotificationStatus)[: len(PROGRESS)] == PROGRESS
    assert PROGRESS == ("accepted", "scheduled", "sent", "delivered", "read")
    assert {"cancelled", "expired", "failed", "suppressed"} == TERMINAL
    assert tuple(NotificationStatus) == ev.STATUSES
    assert ev.PROGRESS == PROGRESS
    assert ev.TERMINAL == TERMINAL


def test_is_terminal_is_membership_of_terminal() -> None:
    assert [s for s in NotificationStatus if s.is_terminal] == [
        s for s in NotificationStatus if s in TERMINAL
    ]
    assert not NotificationStatus.READ.is_terminal
    assert NotificationStatus.SUPPRESSED.is_terminal


def test_each_terminal_status_ends_only_progress_before_its_point() -> None:
    assert set(ENDS_FROM) == TERMINAL
    assert all(reachable <= set(PROGRESS) for reachable in ENDS_FROM.values())
    assert {"accepted", "scheduled"} == UNSENT
    assert ENDS_FROM[NotificationStatus.FAILED] == {"accepted", "scheduled", "sent"}
    for status in (NotificationStatus.CANCELLED, NotificationStatus.EXPIRED):
        assert ENDS_FROM[status] == UNSENT
    assert ENDS_FROM[NotificationStatus.SUPPRESSED] == UNSENT


def test_a_status_a_client_names_is_the_same_list() -> None:
    names = get_args(StatusName)
    assert len(names) == len(set(names))
    assert set(names) == {s.value for s in NotificationStatus}


def test_a_status_travels_as_its_plain_string() -> None:
    class View(BaseModel):
        status: NotificationStatus

    view = View.model_validate({"status": "delivered"})
    assert view.status is NotificationStatus.DELIVERED
    assert view.model_dump_json() == '{"status":"delivered"}'
    assert json.dumps({"status": NotificationStatus.READ}) == '{"status": "read"}'
    assert f"{NotificationStatus.SENT}_at" == "sent_at"
    assert NotificationStatus("failed") is NotificationStatus.FAILED
    assert isinstance(NotificationStatus.FAILED, str)
    with pytest.raises(ValidationError):
        View.model_validate({"status": "queued"})


def test_the_gates_outcomes_are_notification_statuses() -> None:
    """A claim closed for good names the status its notification ends in; only a live
    claim and a released one (between two attempts) are the gate's own."""
    outcomes = {s for s in ClaimState if s not in (ClaimState.CLAIMED, ClaimState.RELEASED)}
    assert {str(s) for s in outcomes} == {"sent", "failed", "cancelled", "expired"}
    assert all(s.value in set(NotificationStatus) for s in outcomes)
    assert ClaimState.CLAIMED.value not in {s.value for s in NotificationStatus}


# --- scopes and priorities ------------------------------------------------------------------


def _enum_of(model: type[BaseModel], field: str) -> list[Any]:
    schema = model.model_json_schema()
    prop = schema["properties"][field]
    if "$ref" in prop:
        prop = schema["$defs"][prop["$ref"].rsplit("/", 1)[1]]
    return list(prop["enum"])


def test_events_take_the_shared_scope_and_priority() -> None:
    assert SCOPES == ("all", "marketing")
    assert _enum_of(ev.OptPayload, "scope") == list(SCOPES)
    assert _enum_of(ev.ErasedOptOut, "scope") == list(SCOPES)
    assert _enum_of(ev.AcceptedPayload, "priority") == list(get_args(Priority))
    with pytest.raises(ValidationError):
        ev.OptPayload(recipient="+15551234567", source="api", scope="transactional")


# --- recipients -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "number"),
    [
        ("1 (555) 123-4567", "+15551234567"),
        ("+44 7700 900123", "+447700900123"),
        ("+52 1 55 8765 0003", "+525587650003"),  # Mexico's WhatsApp id: its dialled number
        ("4915112345678", "+4915112345678"),
    ],
)
def test_numbers_are_normalised_to_e164(given: str, number: str) -> None:
    assert e164(given) == number
    assert send_recipient(given) == number


@pytest.mark.parametrize("given", ["", "hello", "+1555", "+999123456789", "+4412"])
def test_impossible_numbers_are_refused(given: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        e164(given)


@pytest.mark.parametrize("given", ["+14155559999x", "+14155559999 ext 99", "+14155559999;ext=5"])
def test_an_extension_is_refused_not_dropped(given: str) -> None:
    with pytest.raises(ValueError, match="no extension"):
        send_recipient(given)


def test_a_bsuid_is_kept_as_given_and_a_fake_one_is_explained() -> None:
    assert send_recipient("  BR.aBc123XyZ \n") == "BR.aBc123XyZ"
    assert send_recipient("US.ENT.11815799212886844830") == "US.ENT.11815799212886844830"
    for fake in ("XX.1234567890", "us.1234567890"):
        with pytest.raises(ValueError, match="country's two-letter code"):
            send_recipient(fake)


def test_a_suppression_takes_metas_form_of_a_number() -> None:
    """Meta's Mexican id ``+521…`` is impossible to libphonenumber, yet names a person: the
    number its identity key names."""
    assert recipient_form("+5215512340000") == "+525512340000"
    assert recipient_form("+1 415 555 0101") == "+14155550101"
    assert recipient_form("US.13491208655302741918") == "US.13491208655302741918"
    with pytest.raises(ValueError, match="not a possible phone number"):
        recipient_form("+4412")


def test_recipient_is_a_field_type_that_normalises() -> None:
    class Send(BaseModel):
        to: Recipient

    assert Send(to="1 (555) 123-4567").to == "+15551234567"
    with pytest.raises(ValidationError) as info:
        Send(to="hello")
    assert info.value.errors()[0]["loc"] == ("to",)


@pytest.mark.parametrize(
    ("recipient", "code"),
    [
        ("+14155550101", "US"),
        ("+15551234567", "US"),  # a fictional range counts for its calling code's country
        ("+447700900123", "GB"),
        ("BR.aBc123XyZ", "BR"),
        ("XX.1234567890", UNKNOWN_COUNTRY),
        ("not a number", UNKNOWN_COUNTRY),
    ],
)
def test_a_recipients_country(recipient: str, code: str) -> None:
    assert country(recipient) == code


def test_bsuid_country_only_for_a_countrys_code() -> None:
    assert bsuid_country("DE.abc") == "DE"
    assert bsuid_country("XX.abc") is None
    assert bsuid_country("+4915112345678") is None


# --- the envelope ---------------------------------------------------------------------------


def test_events_we_create_always_name_their_notification() -> None:
    ours = {m for m in ev.EVENT_TYPES if issubclass(m, ev.NotificationEnvelope)}
    assert {m.model_fields["type"].default for m in ours} == {
        "notification.accepted",
        "notification.scheduled",
        "notification.cancelled",
        "notification.attempt_failed",
        "notification.expired",
        "notification.suppressed",
    }
    # What Meta reports may know only a wamid.
    assert not issubclass(ev.NotificationDelivered, ev.NotificationEnvelope)
    assert not issubclass(ev.UsageBilled, ev.NotificationEnvelope)


def test_require_notification_id_returns_it_or_says_the_event_is_broken() -> None:
    nid = new_id()
    payload = ev.AcceptedPayload(to="+15551234567", message={"type": "text"})
    accepted = ev.NotificationAccepted(producer="ingest", notification_id=nid, payload=payload)
    assert accepted.require_notification_id() == nid
    # The wire format is unchanged: a body without one still parses, so it can be set aside.
    body = json.loads(ev.dump_event(accepted))
    del body["notification_id"]
    parsed = ev.parse_event(json.dumps(body))
    assert isinstance(parsed, ev.NotificationAccepted)
    with pytest.raises(ev.MissingNotificationId, match="NotificationAccepted"):
        parsed.require_notification_id()
