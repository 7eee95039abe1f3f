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

What a client writes is another matter: :func:`send_recipient` (the :data:`Recipient` type)
and :func:`recipient_form` turn it into E.164 or a BSUID, or say what is wrong, and
:func:`country` says whose country a recipient is. Every service asks libphonenumber
through this module only.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

import phonenumbers
from pydantic import AfterValidator

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


UNKNOWN_COUNTRY: Final = "ZZ"
"""CLDR's code for an unknown region, used when a recipient maps to no country."""

_DIALLABLE: Final = re.compile(r"^\+?[0-9][0-9 ().\-]*$")
"""A number as people write it: digits, with spaces, dashes, dots and brackets between.
Letters (an extension such as ``x99`` or ``;ext=5``) are refused, not dropped: WhatsApp
cannot reach an extension, and a message must not go to a number nobody gave."""

_BSUID_LIKE: Final = re.compile(r"^[A-Za-z]{2}\.")
"""What a business-scoped user id starts with (a country code and a period): a value so
shaped is judged as a BSUID, so its error says what a BSUID must look like."""


def bsuid_country(value: str) -> str | None:
    """The country a business-scoped user id starts with, when ``value`` is a BSUID and
    its two letters are a country's code; None otherwise."""
    if is_bsuid(value) and phonenumbers.country_code_for_region(value[:2]):
        return value[:2]
    return None


def e164(value: str) -> str:
    """A phone number in E.164 (``+`` and digits), or ValueError saying what is wrong."""
    if not _DIALLABLE.match(value.strip()):
        raise ValueError(
            "not a phone number: only digits, with spaces, dashes, dots or brackets between "
            "them (no extension)"
        )
    try:
        number = phonenumbers.parse(value if value.startswith("+") else "+" + value)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from None
    # "Possible" (right length for its country) rather than "valid": fictional test
    # ranges such as +1 555 must pass, and Meta is the judge of who is on WhatsApp.
    if not phonenumbers.is_possible_number(number):
        # A WhatsApp id libphonenumber does not know as a number (Mexico's 521 + 10 digits,
        # as many CRMs store it) stands for the number its identity key names.
        written = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        folded = recipient_key(written)
        if folded != written:
            return e164(folded)
        raise ValueError("not a possible phone number for its country code")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _bsuid(value: str) -> str | None:
    """``value`` when it is a business-scoped user id whose country code is a country's,
    None when it does not look like one, ValueError when it looks like one but is not."""
    if bsuid_country(value) is not None:
        return value
    if _BSUID_LIKE.match(value):
        raise ValueError(
            "not a business-scoped user id: a country's two-letter code in capitals, a "
            "period, then up to 128 letters and digits (ENT. before them for a parent id)"
        )
    return None


def send_recipient(value: str) -> str:
    """A notification's recipient: a business-scoped user id (BSUID) exactly as given, bar
    surrounding whitespace (BSUIDs are case-sensitive), else a phone number in E.164
    (:func:`e164`); ValueError saying what is wrong otherwise."""
    return _bsuid(value.strip()) or e164(value)


Recipient = Annotated[str, AfterValidator(send_recipient)]
"""A field holding whom to send to, as :func:`send_recipient` normalises it."""


def recipient_form(value: str) -> str:
    """A recipient for the suppression list: a BSUID as it is, or a number in any form Meta
    uses (E.164, or a WhatsApp id such as Mexico's ``+521…`` that libphonenumber calls
    impossible but whose identity key is a possible number), as ``+`` and digits."""
    value = value.strip()
    if (bsuid := _bsuid(value)) is not None:
        return bsuid
    try:
        return e164(value)
    except ValueError:
        key = recipient_key(value)
        if key == "+" + digits(value):
            raise
        e164(key)  # the folded form must be a number; raises ValueError otherwise
        return "+" + digits(value)


def country(recipient: str) -> str:
    """The recipient's country (ISO 3166 alpha-2), which Meta's per-message price depends
    on: a business-scoped user id starts with its user's country code; a number no region
    claims (a fictional range) counts for its calling code's main country;
    :data:`UNKNOWN_COUNTRY` when there is none."""
    if is_bsuid(recipient):
        return bsuid_country(recipient) or UNKNOWN_COUNTRY
    try:
        parsed = phonenumbers.parse(recipient, None)
    except phonenumbers.NumberParseException:
        return UNKNOWN_COUNTRY
    region = phonenumbers.region_code_for_number(parsed)
    return region or phonenumbers.region_code_for_country_code(parsed.country_code or 0)
