"""Masking of personal data before it reaches a log line or an error report."""

from __future__ import annotations

import re

_MASK = "\u2022" * 4
_PHONE_RE = re.compile(r"\+?\d{8,15}")
_SECRET_PREFIXES = ("wn_live_", "whsec_")
_SECRET_RE = re.compile(rf"\b({'|'.join(_SECRET_PREFIXES)})[A-Za-z0-9_\-]{{8,}}")
"""API keys and callback secrets: their prefix stays, so a reader knows what was there."""


def mask_phone(number: str | None) -> str | None:
    """``+447700900123`` → ``+4477••••123``: enough to tell numbers apart, not to dial one."""
    if not number:
        return number
    plus = "+" if number.startswith("+") else ""
    digits = number.lstrip("+")
    if len(digits) <= 7:
        return plus + _MASK
    return f"{plus}{digits[:4]}{_MASK}{digits[-3:]}"


def scrub_phones(text: str) -> str:
    """Mask every phone-number-like run of digits in free text."""
    return _PHONE_RE.sub(lambda m: mask_phone(m.group(0)) or "", text)


def scrub_secrets(text: str) -> str:
    """Replace API keys and callback secrets in free text by their prefix and a mask."""
    # Every value of every log line comes through here: a substring test first is a
    # fraction of the cost of running the expression over text that has no prefix at all.
    if not any(prefix in text for prefix in _SECRET_PREFIXES):
        return text
    return _SECRET_RE.sub(lambda m: m.group(1) + _MASK, text)


def scrub_text(text: str) -> str:
    """Free text (an exception, a message) with phone numbers and secrets masked."""
    return scrub_phones(scrub_secrets(text))
