"""A notification's ``to``: a phone number (normalised to E.164, as before) or a
business-scoped user id kept exactly as given; anything else is refused naming ``to``."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ingest.api.schemas import NotificationRequest, recipient_form


def request(to: str) -> NotificationRequest:
    return NotificationRequest.model_validate({"to": to, "text": {"body": "hi"}})


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("US.13491208655302741918", "US.13491208655302741918"),
        ("  BR.aBc123XyZ \n", "BR.aBc123XyZ"),  # case kept, surrounding whitespace dropped
        ("US.ENT.11815799212886844830", "US.ENT.11815799212886844830"),  # a parent BSUID
        ("DE." + "a1" * 64, "DE." + "a1" * 64),  # 128 alphanumerics
    ],
)
def test_a_bsuid_is_kept_as_given(given: str, kept: str) -> None:
    assert request(given).to == kept


def test_numbers_are_normalised_as_before() -> None:
    assert request("1 (555) 123-4567").to == "+15551234567"
    assert request("+52 1 55 8765 0003").to == "+525587650003"


@pytest.mark.parametrize(
    "to",
    [
        "us.13491208655302741918",  # the country code is in capitals
        "USA.1349120865",
        "US.",
        "US.1349-1208",
        "US 13491208655302741918",
        "DE." + "a" * 129,
        "hello",
        "+4412",
    ],
)
def test_neither_a_number_nor_a_bsuid_is_refused_naming_to(to: str) -> None:
    with pytest.raises(ValidationError) as info:
        request(to)
    assert info.value.errors()[0]["loc"] == ("to",)


def test_a_malformed_bsuid_is_told_what_a_bsuid_looks_like() -> None:
    with pytest.raises(ValidationError, match="not a business-scoped user id"):
        request("us.1349")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("+14155559999x", "no extension"),
        ("+14155559999 ext 99", "no extension"),
        ("+14155559999;ext=5", "no extension"),
        ("XX.1234567890", "country's two-letter code"),
        ("us.1234567890", "country's two-letter code"),
    ],
)
def test_what_would_be_dropped_or_guessed_is_refused(value: str, says: str) -> None:
    """An extension would be dropped silently and the message sent to the bare number; a
    BSUID must start with a real country's code. Both are refused, in `to` and wherever a
    recipient is named (suppressions, erasure)."""
    with pytest.raises(ValidationError, match=says):
        NotificationRequest.model_validate({"to": value, "text": {"body": "hi"}})
    with pytest.raises(ValueError, match=says):
        recipient_form(value)
