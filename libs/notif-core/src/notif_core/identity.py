"""Who a recipient is, as Meta knows them: one key for every form of the same person.

Meta's WhatsApp id (``wa_id``) is the identity, and it can differ from the number a business
dials (docs/recipients.md gives the sources):

- Brazil: many mobile ids lack the ninth digit: ``55 DD NNNNNNNN`` for ``55 DD 9 NNNNNNNN``;
- Mexico: mobile ids are ``521`` + 10 digits for numbers stored as ``52`` + 10 digits;
- Argentina: mobile ids are ``549`` + 10 digits for numbers dialled ``54`` + 10 digits;
- users with a WhatsApp username may come with a business-scoped user id (BSUID, such as
  ``US.13491208655302741918``) and no phone number at all.

:func:`recipient_key` folds each family of forms onto one key, so that a window opened from
``5215587654321`` is found for ``+525587654321`` and a STOP from one form suppresses every
form. Numbers from Meta are ids, not dialled numbers: they are never checked against
libphonenumber's idea of validity (it calls the Mexican ``521`` form invalid).
"""

from __future__ import annotations

import re
from typing import Final

BSUID: Final = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")
"""A business-scoped user id: a two-letter country code, a period, then up to 128
alphanumerics (``ENT.`` marks a parent BSUID shared across portfolios)."""

_BRAZIL_MOBILE_WITH_9: Final = re.compile(r"^55(\d{2})9([6-9]\d{7})$")
_MEXICO_MOBILE_ID: Final = re.compile(r"^521(\d{10})$")
_ARGENTINA_MOBILE_ID: Final = re.compile(r"^549(\d{10})$")


_FOLDS: Final = (
    (_BRAZIL_MOBILE_WITH_9, "55"),
    (_MEXICO_MOBILE_ID, "52"),
    (_ARGENTINA_MOBILE_ID, "54"),
)
"""Each country's longer mobile form, and the prefix its key keeps (the groups follow)."""


def is_bsuid(value: str) -> bool:
    return BSUID.match(value) is not None


def digits(value: str) -> str:
    """A phone number or WhatsApp id as bare digits (``+``, spaces and dashes dropped)."""
    return re.sub(r"[^0-9]", "", value)


def recipient_key(value: str) -> str:
    """The identity key of a recipient, in the form ``+`` and digits, or the BSUID as is.

    Brazilian mobiles lose the ninth digit, Mexican mobiles the ``1`` after ``52``, and
    Argentine mobiles the ``9`` after ``54``, so every form of one person gives one key.
    The key is for matching only; messages go to the number or id the client gave.
    """
    value = value.strip()
    if is_bsuid(value):
        return value
    number = digits(value)
    for pattern, prefix in _FOLDS:
        match = pattern.match(number)
        if match:
            number = prefix + "".join(match.groups())
            break
    return "+" + number


def same_person(a: str, b: str) -> bool:
    """Whether two recipient forms name the same person by the country rules."""
    return recipient_key(a) == recipient_key(b)


_UNFOLDS: Final = (
    (re.compile(r"^55(\d{2})([6-9]\d{7})$"), "55{0}9{1}"),
    (re.compile(r"^52(\d{10})$"), "521{0}"),
    (re.compile(r"^54(\d{10})$"), "549{0}"),
)
"""The inverse of ``_FOLDS``: a key's longer mobile form."""


def spellings(key: str) -> set[str]:
    """Every way a recipient with this :func:`recipient_key` may have been written by a
    client or by Meta: the key, its country's longer mobile form, each with and without
    ``+``. For finding a person's rows that kept the form they arrived in."""
    if is_bsuid(key):
        return {key}
    number = digits(key)
    forms = {number}
    for pattern, template in _UNFOLDS:
        match = pattern.match(number)
        if match:
            forms.add(template.format(*match.groups()))
    return forms | {"+" + f for f in forms}
