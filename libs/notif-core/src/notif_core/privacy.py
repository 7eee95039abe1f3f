"""Masking of personal data before it reaches a log line or an error report."""

from __future__ import annotations

import re

_MASK = "\u2022" * 4
_PHONE_RE = re.compile(r"\+?\d{8,15}")


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
