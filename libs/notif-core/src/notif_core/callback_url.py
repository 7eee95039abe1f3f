"""What counts as a status callback URL, checked the same way at the door and before sending.

Two questions, answered apart:

- :func:`problem`: is it a URL our client can use? Accepted only if both the standard
  library's parser and httpx (the client that will POST to it) read it as an absolute
  ``http``/``https`` URL with a host and a port in 1 to 65535, so nothing the API answers
  ``202`` for fails later in the client's parser (a port of 99999 made httpx raise
  ``OverflowError`` on every attempt). The API refuses it as a ``validation_error``
  (:data:`CallbackUrl`, in the request's schema).
- :func:`refusal`: may we call it? Under the deployment's :class:`~notif_core.egress.Policy`
  (``CALLBACK_ALLOW_PRIVATE``, off in production): https only, public addresses only, the
  host judged in every spelling a parser could read it in, and a name resolved (for at most
  :data:`LOOKUP_SECONDS`; a name that does not resolve now is accepted and judged again
  when a callback is sent). The API refuses it as ``callback_url_not_allowed``. The
  deliverer judges again when it connects, and connects to the address it judged
  (``ledger.callback_http``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated
from urllib.parse import urlsplit

import httpx
from pydantic import AfterValidator, StringConstraints

from notif_core import egress
from notif_core.egress import Policy

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
when :func:`problem` finds one. Where it may go is the route's question (:func:`refusal`):
it depends on the deployment's policy and may need the resolver, which a validator must not
wait for on the event loop."""


LOOKUP_SECONDS = 2.0
"""How long the door waits for a name to resolve; after that it accepts, delivery judges."""
_CACHE_SECONDS = 30.0
_CACHE_SIZE = 1024
_resolved: dict[str, tuple[float, tuple[egress.IPAddress, ...]]] = {}
"""Recent answers for names at the door: a tenant's many notifications name one receiver."""


def hosts(url: str) -> list[str]:
    """The URL's host as each parser in the pipeline reads it (lower case). They agree on
    every URL tried so far; both are judged, so a URL written to make them disagree would
    gain nothing."""
    found: list[str] = []
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if host:
        found.append(host.lower())
    try:
        parsed = httpx.URL(url).host.lower()
    except Exception:  # httpx and idna raise several types for one cause: an unusable URL
        parsed = ""
    if parsed and parsed not in found:
        found.append(parsed)
    return found


def destination_problem(url: str, policy: Policy) -> str | None:
    """Why ``policy`` refuses callbacks to ``url``, judged from the URL alone (no resolver):
    its scheme, or a host that is, in any spelling, an address or a name it refuses."""
    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        return None  # not a URL: problem() says so
    for host in hosts(url):
        reason = policy.host_problem(host)
        if reason is not None:
            return f"names a host that {reason}"
    return policy.scheme_problem(scheme)


async def refusal(
    url: str, policy: Policy, *, lookup_seconds: float = LOOKUP_SECONDS
) -> str | None:
    """Why ``policy`` refuses callbacks to ``url``: :func:`destination_problem`, or a name that
    resolves to an address it refuses. None when allowed, and when a name does not resolve
    within ``lookup_seconds`` (it is judged again at delivery). The reason never names an address
    our resolver answered."""
    reason = destination_problem(url, policy)
    if reason is not None:
        return reason
    for host in hosts(url):
        if egress.literal(host) is not None:
            continue
        reason = policy.resolved_problem(await _lookup(host, lookup_seconds))
        if reason is not None:
            return f"names a host that {reason}"
    return None


def refusal_now(url: str, policy: Policy, *, lookup_seconds: float = LOOKUP_SECONDS) -> str | None:
    """:func:`refusal` for code that runs no event loop (``notifctl``)."""
    return asyncio.run(refusal(url, policy, lookup_seconds=lookup_seconds))


async def _lookup(host: str, seconds: float) -> tuple[egress.IPAddress, ...]:
    now = time.monotonic()
    cached = _resolved.get(host)
    if cached is not None and cached[0] > now:
        return cached[1]
    try:
        async with asyncio.timeout(seconds):
            addresses = tuple(await egress.resolve(host, 443))
    except (TimeoutError, OSError, UnicodeError, ValueError):
        return ()  # not known now: accepted here, judged at delivery
    if len(_resolved) >= _CACHE_SIZE:
        _resolved.pop(next(iter(_resolved)))
    _resolved[host] = (now + _CACHE_SECONDS, addresses)
    return addresses
