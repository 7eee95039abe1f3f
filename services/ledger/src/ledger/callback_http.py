"""One status-callback POST: a total deadline, a capped response body, a class for failures.

httpx's timeouts apply per phase (connect, each read, each write), so a receiver that sends
one byte just before every read timeout, or answers with an endless body, could hold a POST
for ever. Here the whole attempt, from connecting to the last byte read, runs under one
``asyncio.timeout``, and at most ``max_response_bytes`` of the answer are read (raw, never
decompressed) and thrown away.

A failed attempt is described by a class (:data:`ErrorClass`), never by exception text: the
class is stored, shown to the tenant through the API and used as a metric label, and an
exception's text can describe our network (addresses, resolvers, proxies).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Literal, get_args

import httpx

from notif_core import callback_url
from notif_core.logging import get_logger

log = get_logger(__name__)

ErrorClass = Literal[
    "connect_failed",
    "tls_failed",
    "timeout",
    "protocol_error",
    "http_3xx",
    "http_4xx",
    "http_5xx",
    "too_large",
    "no_secret",
    "unexpected_error",
]
"""Why an attempt failed; each is worth another attempt later. ``unexpected_error`` is any
exception no other class names, so that no attempt goes unrecorded."""

UnsendableClass = Literal["invalid_url", "unserialisable"]
"""Why a callback can never be sent, whatever the receiver does."""

ERROR_CLASSES: tuple[ErrorClass, ...] = get_args(ErrorClass)


class UnsendableError(Exception):
    """The callback cannot be sent at all (its URL or body is unusable)."""

    def __init__(self, reason: UnsendableClass) -> None:
        super().__init__(reason)
        self.reason: UnsendableClass = reason


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: ErrorClass | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None


def status_class(code: int) -> ErrorClass | None:
    """None for a 2xx answer, else its class (a redirect is not followed: it fails)."""
    if 200 <= code < 300:
        return None
    if code < 400:
        return "http_3xx"
    return "http_4xx" if code < 500 else "http_5xx"


def _caused_by_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):  # the chain is short; bounded in case it loops
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    deadline: float,
    max_response_bytes: int,
) -> Outcome:
    """POST ``body`` to ``url`` and say how it went; raises :class:`UnsendableError` only.

    The URL is checked as the API checks it before anything is sent, and any exception that
    is not one of httpx's is still a class, so a bad row can neither loop nor go unrecorded.
    """
    if callback_url.problem(url) is not None:
        raise UnsendableError("invalid_url")
    try:
        async with asyncio.timeout(deadline):
            async with client.stream(
                "POST", url, content=body, headers=headers, timeout=deadline
            ) as response:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read > max_response_bytes:
                        return Outcome(response.status_code, "too_large")
                return Outcome(response.status_code, status_class(response.status_code))
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise UnsendableError("invalid_url") from exc
    except (TimeoutError, httpx.TimeoutException):
        return Outcome(None, "timeout")
    except httpx.ConnectError as exc:
        return Outcome(None, "tls_failed" if _caused_by_tls(exc) else "connect_failed")
    except httpx.ProtocolError as exc:
        return Outcome(None, "tls_failed" if _caused_by_tls(exc) else "protocol_error")
    except (httpx.TransportError, OSError) as exc:
        return Outcome(None, "tls_failed" if _caused_by_tls(exc) else "connect_failed")
    except Exception as exc:  # recorded as a class and retried with backoff
        log.warning("callback_unexpected_error", error_type=type(exc).__name__)
        return Outcome(None, "unexpected_error")
