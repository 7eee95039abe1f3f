"""Where a tenant's callback URL may make us connect (``notif_core.egress``, judged at the
door by ``callback_url.refusal``): every spelling of a loopback, private, link-local or
otherwise non-public address is refused in production, whatever parser reads it; the local
development policy (``CALLBACK_ALLOW_PRIVATE``) lets http and loopback/private receivers
through and nothing else. Everything here is built with explicit policies, never from the
environment (the test suite runs with the setting on)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field

import pytest

from notif_core import callback_url, egress
from notif_core.callback_url import destination_problem, refusal
from notif_core.egress import LOCAL, STRICT, Policy, literal
from notif_core.settings import CoreSettings

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", V4("127.0.0.1")),
        ("2130706433", V4("127.0.0.1")),  # one decimal number
        ("0x7f000001", V4("127.0.0.1")),  # one hex number
        ("017700000001", V4("127.0.0.1")),  # one octal number
        ("0x7f.1", V4("127.0.0.1")),  # short form, hex first part
        ("127.1", V4("127.0.0.1")),  # short form: the last part fills three bytes
        ("127.0.1", V4("127.0.0.1")),
        ("0177.0.0.1", V4("127.0.0.1")),  # octal part
        ("0x7F.0X0.0.0x1", V4("127.0.0.1")),
        ("127.0.0.1.", V4("127.0.0.1")),  # fully qualified
        ("0", V4("0.0.0.0")),
        ("0x", V4("0.0.0.0")),  # WHATWG: an empty hex number is 0
        ("\uff11\uff12\uff17.\uff10.\uff10.\uff11", V4("127.0.0.1")),  # fullwidth digits
        ("127\u30020\u30020\u30021", V4("127.0.0.1")),  # ideographic full stops
        ("169.254.169.254", V4("169.254.169.254")),
        ("0xa9.0xfe.0xa9.0xfe", V4("169.254.169.254")),
        ("2852039166", V4("169.254.169.254")),
        ("::1", V6("::1")),
        ("[::1]", V6("::1")),
        ("0:0:0:0:0:0:0:1", V6("::1")),
        ("fe80::1%25eth0", V6("fe80::1%eth0")),  # zone id, percent-encoded as in a URL
        ("fe80::1%eth0", V6("fe80::1%eth0")),
        ("::ffff:127.0.0.1", V6("::ffff:7f00:1")),
        ("::ffff:7f00:1", V6("::ffff:7f00:1")),
        ("64:ff9b::7f00:1", V6("64:ff9b::7f00:1")),
        ("2002:7f00:1::", V6("2002:7f00:1::")),
        ("example.com", None),
        ("localhost", None),
        ("1.2.3.4.5", None),  # five parts: a name (which will not resolve)
        ("08", None),  # not octal: no address
        ("0x1g", None),
        ("1_0.0.0.1", None),  # int() would take the underscore; no parser does
        ("123.example", None),
    ],
)
def test_a_host_is_read_as_an_address_in_every_spelling(host: str, address: object) -> None:
    assert literal(host) == address


def test_the_spellings_agree_with_the_c_library() -> None:
    """What we read is what ``getaddrinfo`` (and so the connection) would use."""
    for host in ("2130706433", "0x7f.1", "127.1", "0", "017700000001", "0177.0.0.1"):
        resolved = socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)[0][4][0]
        assert literal(host) == V4(resolved), host


REFUSED_EVERYWHERE = [
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("169.254.169.254", "link-local"),
    ("169.254.0.1", "link-local"),
    ("192.0.0.192", "reserved"),
    ("192.0.2.10", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("192.88.99.1", "reserved"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("::ffff:169.254.169.254", "link-local"),  # IPv4-mapped: judged by its IPv4 address
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of the metadata address
    ("::7f00:1", "reserved"),  # IPv4-compatible (deprecated)
    ("2002:7f00:1::", "reserved"),  # 6to4 of 127.0.0.1
    ("2002:808:808::", "reserved"),  # 6to4 of anything: refused outright
    ("2001::1", "reserved"),  # Teredo
    ("2001:2::1", "reserved"),  # benchmarking
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("100::1", "reserved"),  # discard-only
    ("5f00::1", "reserved"),  # SRv6
    ("4000::1", "reserved"),  # outside 2000::/3
    ("64:ff9b:1::1", "private"),  # local-use NAT64
    ("fd00:ec2::254", "cloud metadata"),  # unique-local, yet refused in development too
]
REFUSED_IN_PRODUCTION_ONLY = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "shared, CGNAT"),
    ("100.100.100.200", "shared, CGNAT"),  # a cloud's metadata address
    ("::1", "loopback"),
    ("fc00::1", "unique local"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.1.2.3", "private"),
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
    ("64:ff9b::a00:1", "private"),
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "172.32.0.1",  # just past 172.16.0.0/12
    "100.128.0.1",  # just past 100.64.0.0/10
    "192.0.1.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:81c::200e",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "64:ff9b::808:808",  # NAT64 of a public address: DNS64 networks answer this way
]


@pytest.mark.parametrize(("address", "kind"), REFUSED_EVERYWHERE + REFUSED_IN_PRODUCTION_ONLY)
def test_production_refuses_every_address_that_is_not_public(address: str, kind: str) -> None:
    reason = STRICT.address_problem(ipaddress.ip_address(address))
    assert reason == f"is not a public address ({kind})"


@pytest.mark.parametrize(("address", "kind"), REFUSED_EVERYWHERE)
def test_local_development_still_refuses_what_no_receiver_listens_on(
    address: str, kind: str
) -> None:
    assert LOCAL.address_problem(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize(("address", "kind"), REFUSED_IN_PRODUCTION_ONLY)
def test_local_development_allows_loopback_and_private_receivers(address: str, kind: str) -> None:
    assert LOCAL.address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed_in_both(address: str) -> None:
    assert STRICT.address_problem(ipaddress.ip_address(address)) is None
    assert LOCAL.address_problem(ipaddress.ip_address(address)) is None


ISSUE_URLS = [
    "http://127.0.0.1:3001/metrics",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:3000/",
]
SPELLED_URLS = [
    "https://2130706433/",
    "https://0x7f.1/",
    "https://127.1/",
    "https://0/",
    "https://017700000001/",
    "https://0177.0.0.1/",
    "https://0x7f000001:8443/x",
    "https://127.0.0.1./",
    "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",
    "https://[::1]/",
    "https://[0:0:0:0:0:0:0:1]/",
    "https://[::]/",
    "https://[fe80::1%25eth0]:8443/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[64:ff9b::7f00:1]/",
    "https://[64:ff9b::a9fe:a9fe]/",
    "https://[2002:7f00:1::]/",
    "https://[2002:a9fe:a9fe::]/",
    "https://[::7f00:1]/",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://10.0.0.1/",
    "https://172.16.5.4/",
    "https://192.168.0.1/",
    "https://100.64.0.1/",
    "https://224.0.0.1/",
    "https://255.255.255.255/",
    "https://198.18.0.1/",
    "https://192.0.2.1/",
    "https://240.0.0.1/",
    "https://localhost/",
    "https://LOCALHOST:8443/",
    "https://localhost./",
    "https://hooks.localhost/",
    "https://a.b.localhost/",
    "https://user:pw@127.0.0.1/",
    "https://example.com@127.0.0.1/",
]


@pytest.mark.parametrize("url", ISSUE_URLS + SPELLED_URLS)
def test_production_refuses_every_spelling_at_the_door(url: str) -> None:
    reason = destination_problem(url, STRICT)
    assert reason is not None
    assert asyncio.run(refusal(url, STRICT)) == reason


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://[fe80::1%25eth0]:8443/",
        "https://0/",
        "http://0.0.0.0:3000/",
        "https://[::]/",
        "https://224.0.0.1/",
        "https://[2002:7f00:1::]/",
        "https://192.0.2.1/",
    ],
)
def test_local_development_refuses_metadata_and_non_unicast_too(url: str) -> None:
    assert destination_problem(url, LOCAL) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:3001/hook",
        "http://[::1]:3000/",
        "http://localhost:8080/hook",
        "http://0x7f.1:8080/",
        "http://192.168.1.20/hook",
        "http://[::ffff:127.0.0.1]/",
        "https://10.0.0.1/",
    ],
)
def test_local_development_allows_http_and_loopback_and_private(url: str) -> None:
    assert destination_problem(url, LOCAL) is None


def test_the_reason_names_the_kind_and_the_fix() -> None:
    assert destination_problem("http://127.0.0.1:3001/metrics", STRICT) == (
        "names a host that is not a public address (loopback)"
    )
    assert destination_problem("http://169.254.169.254/", STRICT) == (
        "names a host that is not a public address (link-local)"
    )
    assert destination_problem("http://hooks.example.com/", STRICT) == (
        "must use https (http is for local development)"
    )
    assert destination_problem("https://localhost/", STRICT) == (
        "names a host that is a loopback name (localhost)"
    )
    assert destination_problem("http://hooks.example.com/", LOCAL) is None


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/x", "https://8.8.8.8/", "https://[2606:4700::1111]:8443/"]
)
def test_https_to_public_receivers_is_allowed(url: str) -> None:
    assert destination_problem(url, STRICT) is None


# Names: the door asks the resolver (here a stand-in, so nothing leaves this machine).


@dataclass
class Resolver:
    """Answers by name; a name it does not know does not resolve; ``HANG`` never answers."""

    table: dict[str, list[str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[egress.IPAddress]:
        self.asked.append(host)
        answer = self.table.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if answer == HANG:
            await asyncio.sleep(3600)
        return [ipaddress.ip_address(a) for a in answer]


HANG = ["hang"]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    fake = Resolver()
    monkeypatch.setattr(egress, "resolve", fake)
    monkeypatch.setattr(callback_url, "_resolved", {})
    return fake


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["10.1.2.3"],
        ["::1"],
        ["fd00:ec2::254"],
        ["8.8.8.8", "127.0.0.1"],  # one refused address is enough
        ["2606:4700::1111", "fe80::1"],
        ["64:ff9b::a9fe:a9fe"],
    ],
)
def test_a_name_that_resolves_to_a_refused_address_is_refused_without_naming_it(
    resolver: Resolver, addresses: list[str]
) -> None:
    resolver.table["internal.example.com"] = addresses
    reason = asyncio.run(refusal("https://internal.example.com/hook", STRICT))
    assert reason == (
        "names a host that resolves to an address callbacks may not go to (only public addresses)"
    )
    for address in addresses:
        assert address not in reason


def test_a_name_resolving_to_public_addresses_passes(
    resolver: Resolver,
) -> None:
    resolver.table["hooks.example.com"] = ["8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"]
    assert asyncio.run(refusal("https://hooks.example.com/hook", STRICT)) is None


def test_local_development_allows_names_of_private_receivers(
    resolver: Resolver,
) -> None:
    resolver.table["receiver.lan"] = ["192.168.1.20"]
    resolver.table["metadata.lan"] = ["169.254.169.254"]
    assert asyncio.run(refusal("http://receiver.lan:8080/", LOCAL)) is None
    assert asyncio.run(refusal("http://metadata.lan/", LOCAL)) is not None


def test_a_name_that_does_not_resolve_now_is_accepted_and_judged_at_delivery(
    resolver: Resolver,
) -> None:
    assert asyncio.run(refusal("https://not-yet.example.com/hook", STRICT)) is None
    resolver.table["slow.example.com"] = HANG
    assert asyncio.run(refusal("https://slow.example.com/", STRICT, lookup_seconds=0.1)) is None


def test_literal_addresses_and_localhost_never_reach_the_resolver(
    resolver: Resolver,
) -> None:
    for url in ["https://127.1/", "https://localhost/", "https://[::1]/", "https://8.8.8.8/"]:
        asyncio.run(refusal(url, STRICT))
    assert resolver.asked == []


def test_answers_are_reused_for_a_while(resolver: Resolver) -> None:
    resolver.table["hooks.example.com"] = ["8.8.8.8"]
    for _ in range(3):
        assert asyncio.run(refusal("https://hooks.example.com/a", STRICT)) is None
    assert resolver.asked == ["hooks.example.com"]


def test_the_real_resolver_answers_localhost_as_loopback() -> None:
    """What the stand-in above pretends, the machine's resolver does (``/etc/hosts``)."""
    found = asyncio.run(egress.resolve("localhost", 443))
    assert found
    assert all(a.is_loopback for a in found)
    assert all(STRICT.address_problem(a) is not None for a in found)


def test_the_policy_is_one_setting_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLBACK_ALLOW_PRIVATE", raising=False)
    assert Policy.of(CoreSettings()) == STRICT
    monkeypatch.setenv("CALLBACK_ALLOW_PRIVATE", "true")
    assert Policy.of(CoreSettings()) == LOCAL
    assert Policy.of(CoreSettings(callback_allow_private=False)) == STRICT
