"""Every form of one person gives one key: Brazil's ninth digit, Mexico's 521, Argentina's
549, and BSUIDs as they are."""

from __future__ import annotations

import pytest

from notif_core.identity import is_bsuid, recipient_key, same_person


@pytest.mark.parametrize(
    ("dialled", "meta_id"),
    [
        ("+5582987654321", "558287654321"),  # Brazil: the id lacks the ninth digit
        ("+55 11 99876-5432", "551198765432"),
        ("+525587654321", "5215587654321"),  # Mexico: the id carries a 1 after 52
        ("+525512340000", "5215512340000"),
        ("+541123456789", "5491123456789"),  # Argentina: the id carries a 9 after 54
        ("+14155550101", "14155550101"),  # elsewhere the forms are equal
    ],
)
def test_a_dialled_number_and_metas_id_are_one_person(dialled: str, meta_id: str) -> None:
    assert same_person(dialled, meta_id)
    assert recipient_key(dialled) == recipient_key("+" + meta_id)
    assert recipient_key(meta_id).startswith("+")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("+5582987654321", "+5582987654320"),  # another person
        ("+551133334444", "+5511933334444"),  # a landline (2-5) has no ninth-digit twin
        ("+525587654321", "+5215587654322"),
        ("+14155550101", "+114155550101"),
    ],
)
def test_different_people_stay_apart(a: str, b: str) -> None:
    assert not same_person(a, b)


def test_bsuids_are_kept_exactly() -> None:
    for bsuid in ("US.13491208655302741918", "BR.1502576394655843", "US.ENT.11815799212886844830"):
        assert is_bsuid(bsuid)
        assert recipient_key(bsuid) == bsuid
    assert not is_bsuid("+14155550101")
    assert not is_bsuid("us.123")
    assert recipient_key("US.1") != recipient_key("US.2")
