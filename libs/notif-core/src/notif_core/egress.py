"""Where a tenant's URL may make us connect: public unicast addresses only (SSRF guard).

A status callback URL is the tenant's, the connection is ours: from inside our network, a
URL naming ``127.0.0.1:3001/metrics``, ``169.254.169.254`` (cloud metadata) or an internal
service would make the deliverer a proxy into it. So a callback may only go to an address
that is globally routable unicast, whatever way its host is written, and only over https.

One setting, ``CALLBACK_ALLOW_PRIVATE`` (:class:`Policy`), relaxes this for local development
(``make run``, the test suite): plain ``http`` is allowed, and so are loopback, private
(RFC 1918), shared (CGNAT 100.64.0.0/10) and unique-local (fc00::/7) addresses. Link-local
(cloud metadata), multicast, unspecified, broadcast, documentation, benchmarking and other
reserved addresses stay refused in every mode: nothing listens there for a callback.

How a host is read (:func:`literal`): an IP address in any spelling a URL parser or the C
library's resolver accepts (``2130706433``, ``0x7f.1``, ``127.1``, ``0``, ``0177.0.0.1``,
``127.0.0.1.``, fullwidth digits, IPv6 with a zone id), so the address checked is the
address connected to. A name is resolved and every address it resolves to must be allowed;
the deliverer then connects to the address it checked (``ledger.callback_http``), so a
DNS answer that changes between the check and the connection (DNS rebinding) cannot slip
through. Addresses that embed an IPv4 address (IPv4-mapped ``::ffff:0:0/96``, NAT64
``64:ff9b::/96``) are judged by that address; 6to4 (2002::/16), Teredo and the other
IPv4-compatible or transition forms are refused outright.

Why our own rules rather than ``ipaddress``' ``is_global`` alone: on the Python this runs
(3.11) ``is_global`` is true for multicast, 6to4, NAT64, IPv4-compatible IPv6 (``::7f00:1``),
fec0::/10 and 3fff::/20. It is still consulted, behind the explicit tables below, which are
the rules. Why not a library: those on the package index for httpx were read, and none fits.
``drawbridge`` rewrites the URL to the checked IP and so has to turn keep-alive off (a
pooled TLS connection would otherwise serve another host on the same IP) and refuses all of
NAT64; ``httpx-secure`` learns the address by opening a TCP connection to whatever the name
resolves to before checking it, and trusts ``is_global``; ``safehttpx`` resolves through a
public DNS-over-HTTPS service; ``advocate`` is for ``requests`` and unmaintained since 2020.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

import idna

if TYPE_CHECKING:
    from notif_core.settings import CoreSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_net4 = ipaddress.IPv4Network
_net6 = ipaddress.IPv6Network

REFUSED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_net4("0.0.0.0/8"), "unspecified"),
    (_net4("10.0.0.0/8"), "private"),
    (_net4("100.64.0.0/10"), "shared, CGNAT"),
    (_net4("127.0.0.0/8"), "loopback"),
    (_net4("169.254.0.0/16"), "link-local"),
    (_net4("172.16.0.0/12"), "private"),
    (_net4("192.0.0.0/24"), "reserved"),
    (_net4("192.0.2.0/24"), "documentation"),
    (_net4("192.88.99.0/24"), "reserved"),  # 6to4 relay anycast, deprecated
    (_net4("192.168.0.0/16"), "private"),
    (_net4("198.18.0.0/15"), "benchmarking"),
    (_net4("198.51.100.0/24"), "documentation"),
    (_net4("203.0.113.0/24"), "documentation"),
    (_net4("224.0.0.0/4"), "multicast"),
    (_net4("255.255.255.255/32"), "broadcast"),
    (_net4("240.0.0.0/4"), "reserved"),
)
"""IPv4 ranges no callback goes to, with what they are (the first match names it)."""

GLOBAL_UNICAST_V6 = _net6("2000::/3")
"""The only IPv6 block allocated for global unicast; everything outside it is refused
(after IPv4-mapped and NAT64 addresses were judged by their IPv4 address)."""

REFUSED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_net6("::/128"), "unspecified"),
    (_net6("::1/128"), "loopback"),
    (_net6("64:ff9b:1::/48"), "private"),  # local-use NAT64
    (_net6("fc00::/7"), "unique local"),
    (_net6("fe80::/10"), "link-local"),
    (_net6("fec0::/10"), "site-local"),
    (_net6("ff00::/8"), "multicast"),
    (_net6("2001::/23"), "reserved"),  # IETF protocol assignments: Teredo, ORCHID, …
    (_net6("2001:db8::/32"), "documentation"),
    (_net6("2002::/16"), "reserved"),  # 6to4: reaches whatever IPv4 address it embeds
    (_net6("3fff::/20"), "documentation"),
)
"""IPv6 ranges no callback goes to, with what they are."""

NAT64 = _net6("64:ff9b::/96")
"""The well-known NAT64 prefix: DNS64 answers with it for IPv4-only names, so it is judged by
the IPv4 address in its last 32 bits rather than refused."""

METADATA: frozenset[IPAddress] = frozenset({ipaddress.ip_address("fd00:ec2::254")})
"""Instance metadata endpoints outside link-local (AWS's IPv6 one is unique-local), refused
even where ``CALLBACK_ALLOW_PRIVATE`` lets unique-local addresses through; the IPv4 ones
(169.254.169.254) are link-local, refused in every mode already."""

LOCAL_V4: tuple[ipaddress.IPv4Network, ...] = tuple(
    _net4(n)
    for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
LOCAL_V6: tuple[ipaddress.IPv6Network, ...] = (_net6("::1/128"), _net6("fc00::/7"))
"""What ``CALLBACK_ALLOW_PRIVATE`` lets through besides public addresses: loopback, private,
shared and unique-local receivers of a developer's machine or network."""


def is_localhost(host: str) -> bool:
    """``localhost`` and ``*.localhost``: loopback by definition (RFC 6761), refused without
    asking a resolver (not every resolver answers ``*.localhost``)."""
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


@dataclass(frozen=True)
class Policy:
    """Where callbacks may go. The default is production's: https to public addresses."""

    allow_private: bool = False
    """``CALLBACK_ALLOW_PRIVATE``: plain http, loopback and private receivers (development)."""

    @classmethod
    def of(cls, settings: CoreSettings) -> Policy:
        return cls(allow_private=settings.callback_allow_private)

    def scheme_problem(self, scheme: str) -> str | None:
        if scheme.lower() == "https" or (self.allow_private and scheme.lower() == "http"):
            return None
        return "must use https" + ("" if self.allow_private else " (http is for local development)")

    def address_problem(self, address: IPAddress) -> str | None:
        """None if a callback may go to ``address``, else what kind of address it is."""
        address = embedded(address) or address
        if address in METADATA:
            return "is not a public address (cloud metadata)"
        if isinstance(address, ipaddress.IPv4Address):
            if self.allow_private and any(address in net for net in LOCAL_V4):
                return None
            kind = next((what for net, what in REFUSED_V4 if address in net), None)
        else:
            if self.allow_private and any(address in net for net in LOCAL_V6):
                return None
            kind = next((what for net, what in REFUSED_V6 if address in net), None)
            if kind is None and address not in GLOBAL_UNICAST_V6:
                kind = "reserved"
        if kind is None and not address.is_global:
            kind = "reserved"
        return None if kind is None else f"is not a public address ({kind})"

    def host_problem(self, host: str) -> str | None:
        """What is wrong with ``host`` as written, without asking a resolver: None for a name
        that must still be resolved, or for an allowed address."""
        address = literal(host)
        if address is not None:
            return self.address_problem(address)
        if not self.allow_private and is_localhost(host):
            return "is a loopback name (localhost)"
        return None

    def resolved_problem(self, addresses: Iterable[IPAddress]) -> str | None:
        """None if every address a name resolved to is allowed. The addresses are not named:
        a tenant must not learn what our resolver answers for internal names."""
        if any(self.address_problem(a) is not None for a in addresses):
            return "resolves to an address callbacks may not go to (only public addresses)"
        return None


STRICT = Policy()
LOCAL = Policy(allow_private=True)


class DestinationNotAllowed(Exception):
    """A connection the policy refuses. ``certain`` when decided from the URL alone (it will
    never be allowed under this policy), not when it depends on what a name resolves to."""

    def __init__(self, reason: str, *, certain: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.certain = certain


def embedded(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped or NAT64 IPv6 address stands for, if it is one."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def literal(host: str) -> IPAddress | None:
    """The IP address ``host`` (a URL's host, brackets and percent-escapes allowed) is written
    as, in any spelling a URL parser or ``inet_aton`` reads as one; None for a name."""
    host = unquote(host.strip())
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    for candidate in _spellings(host):
        try:
            return ipaddress.ip_address(candidate)
        except ValueError:
            pass
        if candidate.endswith("."):  # one trailing dot: a fully qualified address
            candidate = candidate[:-1]
        found = _whatwg_ipv4(candidate)
        if found is not None:
            return found
        if candidate and all(c in "0123456789abcdefxABCDEFX." for c in candidate):
            try:
                return ipaddress.IPv4Address(socket.inet_aton(candidate))
            except OSError:
                pass
    return None


def _spellings(host: str) -> list[str]:
    """``host``, and as a WHATWG URL parser maps it (fullwidth digits and dots, …)."""
    found = [host]
    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
    except (idna.IDNAError, ValueError):
        return found
    mapped = mapped.replace("\u3002", ".").replace("\uff0e", ".").replace("\uff61", ".")
    if mapped != host:
        found.append(mapped)
    return found


_HEX = re.compile(r"0[xX]([0-9a-fA-F]*)")
_OCTAL = re.compile(r"0([0-7]+)")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def _whatwg_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The WHATWG URL standard's IPv4 parser: 1 to 4 parts, each decimal, octal (leading 0)
    or hex (``0x``, empty allowed), the last one filling the remaining bytes."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        if m := _HEX.fullmatch(part):
            numbers.append(int(m.group(1), 16) if m.group(1) else 0)
        elif m := _OCTAL.fullmatch(part):
            numbers.append(int(m.group(1), 8))
        elif _DECIMAL.fullmatch(part):
            numbers.append(int(part, 10))
        else:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


_RESOLVER = ThreadPoolExecutor(max_workers=16, thread_name_prefix="egress-resolver")
"""The threads that resolve tenants' names, apart from the event loop's default executor:
however slow a tenant's name is to resolve, at most this many threads wait on it, and the
database driver's own lookups (which use the default executor) never queue behind it. A
lookup whose caller stopped waiting before it started is dropped from the queue."""


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to (TCP), in the resolver's order, without duplicates;
    raises ``socket.gaierror`` as the resolver does. Bound it with a timeout: the caller
    stops waiting, the thread finishes the lookup on its own."""
    loop = asyncio.get_running_loop()
    infos = await loop.run_in_executor(
        _RESOLVER, functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    )
    found: list[IPAddress] = []
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        text = str(sockaddr[0])
        if family == socket.AF_INET6 and len(sockaddr) >= 4 and sockaddr[3] and "%" not in text:
            text = f"{text}%{sockaddr[3]}"
        address = ipaddress.ip_address(text)
        if address not in found:
            found.append(address)
    return found
