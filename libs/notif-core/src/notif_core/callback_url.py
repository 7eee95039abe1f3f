"""What counts as a status callback URL, checked the same way at the door and before sending.

A URL is accepted only if both the standard library's parser and httpx (the client that
will POST to it) read it as an absolute ``http``/``https`` URL with a host and a port in
1 to 65535, so nothing the API answers ``202`` for fails later in the client's parser (a port
of 99999 made httpx raise ``OverflowError`` on every attempt).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

import httpx
from pydantic import AfterValidator, StringConstraints

MAX_LENGTH = 2048
SCHEMES = frozenset({"http", "https"})


def problem(url: str) -> str | None:
    """Why ``url`` cannot be a callback URL, or None if it can."""
    if len(url) > MAX_LENGTH:
        return f"is longer than {MAX_LENGTH} characters"
    if not url.isprintable() or any(c.isspace() for c in url):
        return "contains whitespace or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a well-formed URL (bad host or port)"
    if parts.scheme.lower() not in SCHEMES:
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if port is not None and not 1 <= port <= 65_535:
        return "must have a port between 1 and 65535"
    try:
        parsed = httpx.URL(url)
        usable = bool(parsed.host) and (parsed.port is None or 1 <= parsed.port <= 65_535)
    except Exception:  # httpx and idna raise several types for one cause: an unusable URL
        usable = False
    return None if usable else "is not a well-formed URL"


def check(url: str) -> str:
    """``url`` unchanged, or ValueError saying what is wrong with it (for validators)."""
    reason = problem(url)
    if reason is not None:
        raise ValueError(reason)
    return url


CallbackUrl = Annotated[
    str, StringConstraints(max_length=MAX_LENGTH, pattern=r"^https?://\S+$"), AfterValidator(check)
]
"""A request field holding a callback URL: a string in the API's schema, refused with 422
when :func:`problem` finds one."""
