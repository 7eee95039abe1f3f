"""Erasure of a person (GDPR Art. 17): pseudonyms, and what an erased event still says.

Two tools serve every service:

- :func:`pseudonym`: a keyed hash (HMAC-SHA-256 under ``RECIPIENT_PSEUDONYM_KEY``) of a
  recipient's identity key. An opt-out outlives erasure in this form: the suppression row
  of an erased person is keyed by the pseudonym, which still matches a later send to the
  same number (the dispatcher hashes the number it is about to message) but names no one
  to a reader without the key. A plain hash would not do: phone numbers are few enough
  to hash them all.
- :func:`redacted`: the personal fields of an event payload replaced by placeholders. The
  ledger seals those fields with a per-person key and destroys the key on erasure
  (crypto-shredding, ``ledger.sealing``); an event whose key is gone reads back redacted,
  so a rebuild still folds it (a notification's status, timings and country survive, its
  recipient and content do not).

docs/recipients.md describes the whole erasure and why.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cache
from typing import Any, Final

from notif_core.identity import recipient_key
from notif_core.settings import CoreSettings

ERASED: Final = "erased"
"""What an erased identifier reads as. ``erased:BR`` for a recipient keeps the country,
which Meta's price and the usage report depend on."""
PSEUDONYM_PREFIX: Final = "p:"

PERSONAL_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "notification.accepted": ("to", "message", "metadata"),
    "notification.sent": ("wa_id", "user_id"),
    "message.inbound_received": ("from", "user_id", "text"),
    "recipient.opted_out": ("recipient",),
    "recipient.opted_in": ("recipient",),
    "recipient.number_changed": ("old", "new"),
}
"""Per event type, the payload fields (JSON names) that name or quote a person."""
_SUBJECT_FIELDS: Final = ("to", "from", "user_id", "recipient", "new", "wa_id")
"""Which field names the person an event is about, first present wins."""


def pseudonym(key: str, secret: bytes) -> str:
    """``p:`` + hex HMAC-SHA-256 of a :func:`~notif_core.identity.recipient_key`."""
    return PSEUDONYM_PREFIX + hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


@cache
def deployment_secret() -> bytes:
    """This process's ``RECIPIENT_PSEUDONYM_KEY``, read once."""
    return CoreSettings().recipient_pseudonym_key.get_secret_value().encode()


def deployment_pseudonym(key: str) -> str:
    """:func:`pseudonym` under this deployment's key."""
    return pseudonym(key, deployment_secret())


def is_erased(value: object) -> bool:
    return isinstance(value, str) and (value == ERASED or value.startswith(ERASED + ":"))


def erased_country(value: str) -> str | None:
    """The country an ``erased:XX`` placeholder kept, if any."""
    _, _, country = value.partition(":")
    return country or None


def subject(event_type: str, payload: dict[str, Any]) -> str | None:
    """The identity key of the person an event payload is about, or None for events that
    name no one (statuses, usage)."""
    if event_type not in PERSONAL_FIELDS:
        return None
    for name in _SUBJECT_FIELDS:
        value = payload.get(name)
        if isinstance(value, str) and value.strip() and not is_erased(value):
            return recipient_key(value)
    return None


def redacted(event_type: str, payload: dict[str, Any], country: str | None) -> dict[str, Any]:
    """``payload`` with its personal fields replaced: identifiers by ``erased`` (the
    recipient by ``erased:<country>``), content by nothing. The result still parses as
    the event's payload."""
    out = dict(payload)
    for name in PERSONAL_FIELDS.get(event_type, ()):
        if name not in out:
            continue
        if name == "to":
            out[name] = f"{ERASED}:{country}" if country else ERASED
        elif name == "message":
            out[name] = {"type": ERASED}
        elif name in {"metadata", "text", "user_id", "wa_id"}:
            out[name] = None
        else:
            out[name] = ERASED
    if event_type == "message.inbound_received":
        out["from"] = ERASED  # an inbound names someone: erased, not absent
    return out
