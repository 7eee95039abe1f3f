"""The one table from Meta's error codes to what they make us do."""

from __future__ import annotations

import pytest

from notif_core.meta_codes import (
    DEFAULT,
    REACTIONS,
    TRANSPORT_ERROR,
    MetaCode,
    Reaction,
    reaction,
)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (4, Reaction.RETRY),
        (80007, Reaction.RETRY),
        (131000, Reaction.RETRY),
        (131016, Reaction.RETRY),
        (131057, Reaction.RETRY),
        (TRANSPORT_ERROR, Reaction.RETRY),
        (130429, Reaction.THROTTLE),
        (131056, Reaction.PAIR_LIMIT),
        (190, Reaction.BREAKER),
        (368, Reaction.BREAKER),
        (133010, Reaction.BREAKER),
        (131050, Reaction.OPT_OUT),
        (100, Reaction.TERMINAL),
        (131026, Reaction.TERMINAL),
        (131030, Reaction.TERMINAL),
        (131047, Reaction.TERMINAL),
        (131048, Reaction.TERMINAL),
        (131049, Reaction.TERMINAL),
        (131051, Reaction.TERMINAL),
        (131053, Reaction.TERMINAL),
        (131062, Reaction.TERMINAL),
        (132000, Reaction.TERMINAL),
        (132001, Reaction.TERMINAL),
        (132012, Reaction.TERMINAL),
        (132015, Reaction.TERMINAL),
        (132016, Reaction.TERMINAL),
    ],
)
def test_each_code_has_its_reaction(code: int | str, expected: Reaction) -> None:
    assert reaction(code) is expected


@pytest.mark.parametrize(
    "code", [0, 1, 131999, 999999, "unknown", "http_404", "invalid_phone_number_id", ""]
)
def test_an_unknown_code_fails_at_once(code: int | str) -> None:
    assert DEFAULT is Reaction.TERMINAL
    assert reaction(code) is Reaction.TERMINAL


@pytest.mark.parametrize(
    ("code", "expected"),
    [("131050", Reaction.OPT_OUT), ("131000", Reaction.RETRY), ("190", Reaction.BREAKER)],
)
def test_a_code_sent_as_a_string_is_the_same_code(code: str, expected: Reaction) -> None:
    assert reaction(code) is expected


@pytest.mark.parametrize("code", ["١٣١٠٥٠", " 131050", "131050.0", "-131050"])
def test_only_ascii_digits_read_as_a_number(code: str) -> None:
    assert reaction(code) is Reaction.TERMINAL


@pytest.mark.parametrize(
    ("member", "number"),
    [
        (MetaCode.API_TOO_MANY_CALLS, 4),
        (MetaCode.RATE_LIMIT_HIT, 130429),
        (MetaCode.PAIR_RATE_LIMIT_HIT, 131056),
        (MetaCode.RE_ENGAGEMENT_MESSAGE, 131047),
        (MetaCode.USER_STOPPED_MARKETING_MESSAGES, 131050),
        (MetaCode.BSUID_RECIPIENT_NOT_SUPPORTED, 131062),
        (MetaCode.PHONE_NUMBER_NOT_REGISTERED, 133010),
    ],
)
def test_a_member_is_the_number_meta_sends(member: MetaCode, number: int) -> None:
    assert member == number
    assert MetaCode(number) is member
    assert str(member) == str(number)  # events and metric labels carry the plain number


def test_every_named_code_is_in_the_table() -> None:
    assert set(MetaCode) <= set(REACTIONS)
    assert set(REACTIONS) - set(MetaCode) == {TRANSPORT_ERROR}


def test_the_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        REACTIONS[MetaCode.RATE_LIMIT_HIT] = Reaction.TERMINAL  # type: ignore[index]
