"""One status-callback POST: a total deadline, a capped response body, a class for failures.

httpx's timeouts apply per phase (connect, each read, each write), so a receiver that sends
one byte just before every read timeout, or answers with an endless body, could hold a POST
for ever. Here the whole attempt, from connecting to the last byte read, runs under one
``asyncio.timeout``, and at most ``max_response_bytes`` of the answer are read (raw, never
decompressed) and thrown away.

A failed attempt is described by a class (:data:`ErrorClass`), never by exception text: the
class is stored, shown to the tenant through the API and used as a metric label, and an
exception's text can describe our network (addresses, resolvers, proxies).

Where it may connect: the deliverer's client (:func:`client`) connects only where the
deployment's :class:`~notif_core.egress.Policy` allows (https to public addresses, unless
``CALLBACK_ALLOW_PRIVATE``), judged when it connects, not only when the URL was accepted: a
name can resolve elsewhere by then. Its network backend (:class:`GuardedBackend`) resolves
the host itself, refuses the connection if any address is not allowed, and connects to the
address it judged, so a second DNS answer (rebinding) never gets a say; TLS still verifies
the certificate for the URL's host name (httpcore sends it as SNI), and the Host header is
the URL's. Proxies from the environment are not used. A URL refused on its face (scheme,
literal address, ``localhost``) can never be sent: quarantined as ``destination_not_allowed``.
A name that resolves to a refused address fails the attempt as ``destination_not_allowed``
and is retried like any other failure (its DNS may be fixed).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import anyio
import httpcore
import httpx

from notif_core import callback_url, egress
from notif_core.egress import DestinationNotAllowed, IPAddress, Policy
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
    "destination_not_allowed",
    "unexpected_error",
]
"""Why an attempt failed; each is worth another attempt later. ``destination_not_allowed``:
the URL's host resolved to an address callbacks may not go to. ``unexpected_error`` is any
exception no other class names, so that no attempt goes unrecorded."""

UnsendableClass = Literal["invalid_url", "unserialisable", "destination_not_allowed"]
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
    except DestinationNotAllowed as exc:
        if exc.certain:
            raise UnsendableError("destination_not_allowed") from None
        return Outcome(None, "destination_not_allowed")
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


Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy allows, and only
    to the address it judged: httpcore asks it for a connection to the URL's host, it
    resolves that host once, judges every address, and connects to one of them by address.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        resolve: Resolver = egress.resolve,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._policy = policy
        self._resolve = resolve
        self._inner = inner or httpcore.AnyIOBackend()

    async def addresses(self, host: str, port: int, seconds: float | None) -> list[IPAddress]:
        """Where a connection to ``host`` may go, or :class:`DestinationNotAllowed`."""
        address = egress.literal(host)
        if address is not None:
            reason = self._policy.address_problem(address)
            if reason is not None:
                raise DestinationNotAllowed(reason, certain=True)
            return [address]
        reason = self._policy.host_problem(host)
        if reason is not None:
            raise DestinationNotAllowed(reason, certain=True)
        try:
            with anyio.fail_after(seconds):
                found = await self._resolve(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout("name resolution timed out") from exc
        except (OSError, UnicodeError, ValueError) as exc:
            raise httpcore.ConnectError("name resolution failed") from exc
        if not found:
            raise httpcore.ConnectError("the name has no address")
        reason = self._policy.resolved_problem(found)
        if reason is not None:
            raise DestinationNotAllowed(reason, certain=False)
        return found

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        for address in await self.addresses(host, port, timeout):
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the next address, as a client would try it
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationNotAllowed("a local socket", certain=True)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with a :class:`GuardedBackend` under its connection pool, and the
    policy's scheme rule (https only, unless local development) before any connection."""

    def __init__(
        self,
        policy: Policy,
        *,
        limits: httpx.Limits = httpx.Limits(),  # noqa: B008 - immutable
        backend: httpcore.AsyncNetworkBackend | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._policy = policy
        # httpx takes no network backend, so its pool is built again, the same way, with
        # ours (a pooled connection was judged when it was opened; it is to that address).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify or httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend or GuardedBackend(policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        reason = self._policy.scheme_problem(request.url.scheme)
        if reason is not None:
            raise DestinationNotAllowed(reason, certain=True)
        return await super().handle_async_request(request)


def client(
    policy: Policy,
    *,
    limits: httpx.Limits = httpx.Limits(),  # noqa: B008 - immutable
    backend: httpcore.AsyncNetworkBackend | None = None,
    verify: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """The deliverer's HTTP client: connects only where ``policy`` allows, follows no
    redirect, and ignores proxy and auth settings from the environment (a proxy would
    resolve the name itself). ``backend`` and ``verify`` are for tests (a resolver of
    their own, a certificate authority of their own)."""
    return httpx.AsyncClient(
        transport=GuardedTransport(policy, limits=limits, backend=backend, verify=verify),
        follow_redirects=False,
        trust_env=False,
    )
