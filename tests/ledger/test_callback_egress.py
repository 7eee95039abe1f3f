"""Status callbacks connect only where the policy allows, judged when they connect.

The deliverer's client (``callback_http.client``) resolves a receiver's name itself, refuses
the connection when any address is not allowed, and connects to the address it judged: a
second DNS answer never gets a say (rebinding), TLS still verifies the URL's host name, and
the Host header is the URL's. With ``CALLBACK_ALLOW_PRIVATE`` off (production) a name that
resolves to loopback is refused and the attempt recorded with its class; with it on (local
development) a loopback receiver gets its callbacks. Receivers are real servers on
127.0.0.1; names other than ``localhost`` are answered by a stand-in resolver, so nothing
leaves this machine. The policies are built here, never read from the environment (the
test suite runs with the setting on)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpcore
import httpx
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack
from tests.ledger.test_callbacks import lifecycle, tenant_with_secret

from ledger import callback_http, store
from ledger.callback_http import GuardedBackend, UnsendableError
from ledger.callbacks import CallbackDeliverer, DeliveryConfig
from ledger.settings import LedgerSettings
from notif_core.backoff import RetryPolicy
from notif_core.db import make_engine
from notif_core.egress import LOCAL, STRICT, IPAddress, Policy
from notif_core.ids import new_id

BODY = b'{"status":"sent"}'
HEADERS = {"Content-Type": "application/json"}


@dataclass
class Receiver:
    """A customer endpoint on 127.0.0.1 that answers 204 and keeps what it got."""

    port: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)


async def serve(receiver: Receiver, tls: ssl.SSLContext | None = None) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    receiver.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    box = Receiver()
    runner = await serve(box)
    yield box
    await runner.cleanup()


@dataclass
class Resolver:
    """Answers each name from its table, one answer after the other (the last one repeats):
    a name whose answer changes is how DNS rebinding works."""

    table: dict[str, list[list[str]]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        answers = self.table.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return [ipaddress.ip_address(a) for a in answer]


class Refusing(httpcore.AsyncNetworkBackend):
    """Records where it was asked to connect, and connects nowhere."""

    def __init__(self) -> None:
        self.connects: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append(host)
        raise httpcore.ConnectError("connection refused")


async def post(http: httpx.AsyncClient, url: str) -> callback_http.Outcome:
    return await callback_http.post(http, url, BODY, HEADERS, deadline=5, max_response_bytes=4096)


# One attempt, through the client alone.


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:{port}/hooks",
        "https://localhost:{port}/hooks",
        "https://hooks.localhost:{port}/hooks",
        "https://127.0.0.1:{port}/hooks",
        "https://2130706433:{port}/hooks",
        "https://0x7f.1:{port}/hooks",
        "https://[::ffff:127.0.0.1]:{port}/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://hooks.example.com:{port}/hooks",  # a public name, but not over https
    ],
)
async def test_production_never_connects_where_the_url_itself_is_refused(
    receiver: Receiver, url: str
) -> None:
    resolver = Resolver({"hooks.example.com": [["8.8.8.8"]]})
    inner = Refusing()
    backend = GuardedBackend(STRICT, resolve=resolver, inner=inner)
    async with callback_http.client(STRICT, backend=backend) as http:
        with pytest.raises(UnsendableError) as refused:
            await post(http, url.format(port=receiver.port))
    assert refused.value.reason == "destination_not_allowed"
    assert inner.connects == []
    assert resolver.asked == []  # decided from the URL alone
    assert receiver.received == []


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1"],
        ["::1"],
        ["169.254.169.254"],
        ["10.0.0.7"],
        ["8.8.8.8", "127.0.0.1"],  # one refused address is enough
        ["64:ff9b::7f00:1"],  # NAT64 of loopback
    ],
)
async def test_production_refuses_a_name_that_resolves_to_a_refused_address(
    answer: list[str],
) -> None:
    resolver = Resolver({"hooks.example.com": [answer]})
    inner = Refusing()
    backend = GuardedBackend(STRICT, resolve=resolver, inner=inner)
    async with callback_http.client(STRICT, backend=backend) as http:
        outcome = await post(http, "https://hooks.example.com/hooks")
    assert outcome == callback_http.Outcome(None, "destination_not_allowed")
    assert inner.connects == []  # refused before any connection


async def test_the_connection_goes_to_the_address_that_was_judged() -> None:
    """DNS rebinding: the name answers a public address, then loopback. The check and the
    connection share one answer, so loopback is never connected to."""
    resolver = Resolver({"rebind.example.com": [["93.184.216.34"], ["127.0.0.1"]]})
    inner = Refusing()  # the public address is not contacted for real
    backend = GuardedBackend(STRICT, resolve=resolver, inner=inner)
    async with callback_http.client(STRICT, backend=backend) as http:
        first = await post(http, "https://rebind.example.com/hooks")
        second = await post(http, "https://rebind.example.com/hooks")
    assert first == callback_http.Outcome(None, "connect_failed")
    assert inner.connects == ["93.184.216.34"]  # one connection, to the judged address
    assert resolver.asked == ["rebind.example.com", "rebind.example.com"]  # once each
    assert second == callback_http.Outcome(None, "destination_not_allowed")


async def test_a_name_that_does_not_resolve_fails_the_attempt_as_connect_failed() -> None:
    backend = GuardedBackend(STRICT, resolve=Resolver(), inner=Refusing())
    async with callback_http.client(STRICT, backend=backend) as http:
        outcome = await post(http, "https://nowhere.example.invalid/hooks")
    assert outcome == callback_http.Outcome(None, "connect_failed")


async def test_local_development_delivers_to_loopback_with_the_urls_host(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = Resolver({"hooks.example.test": [["127.0.0.1"]]})
    # A proxy in the environment is not used: it would resolve the name itself.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    backend = GuardedBackend(LOCAL, resolve=resolver)
    async with callback_http.client(LOCAL, backend=backend) as http:
        named = await post(http, f"http://hooks.example.test:{receiver.port}/hooks")
        spelled = await post(http, f"http://0x7f.1:{receiver.port}/hooks")
    async with callback_http.client(LOCAL) as http:  # the machine's resolver
        local = await post(http, f"http://localhost:{receiver.port}/hooks")
    assert named == spelled == local == callback_http.Outcome(204)
    hosts = [headers["Host"] for headers, _ in receiver.received]
    port = receiver.port
    assert hosts == [f"hooks.example.test:{port}", f"0x7f.1:{port}", f"localhost:{port}"]


def certificate_for(name: str, directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A test CA and a certificate for ``name`` it signed: (server context, client context
    trusting only that CA)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "egress test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (directory / "leaf.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(directory / "leaf.pem", directory / "leaf.key")
    client = ssl.create_default_context(cafile=str(directory / "ca.pem"))
    return server, client


async def test_tls_is_verified_for_the_urls_host_name_not_the_address(tmp_path: Path) -> None:
    server_tls, client_tls = certificate_for("hooks.example.test", tmp_path)
    sni: list[str | None] = []
    server_tls.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    box = Receiver()
    runner = await serve(box, server_tls)
    resolver = Resolver(
        {"hooks.example.test": [["127.0.0.1"]], "other.example.test": [["127.0.0.1"]]}
    )
    try:
        async with callback_http.client(
            LOCAL, backend=GuardedBackend(LOCAL, resolve=resolver), verify=client_tls
        ) as http:
            good = await post(http, f"https://hooks.example.test:{box.port}/hooks")
            # Same address, another name: its certificate does not match, so nothing is sent
            # (a pooled connection to that address is not reused for another host either).
            wrong = await post(http, f"https://other.example.test:{box.port}/hooks")
            literal = await post(http, f"https://127.0.0.1:{box.port}/hooks")
    finally:
        await runner.cleanup()
    assert good == callback_http.Outcome(204)
    assert wrong == callback_http.Outcome(None, "tls_failed")
    assert literal == callback_http.Outcome(None, "tls_failed")
    assert len(box.received) == 1
    assert box.received[0][0]["Host"] == f"hooks.example.test:{box.port}"
    assert sni[:2] == ["hooks.example.test", "other.example.test"]


# Through the deliverer: the attempt is recorded with its class.


@pytest.fixture
async def own_engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """A database of its own: the services' deliverer (with the setting on) must not take
    these rows."""
    engine = make_engine(
        stack.new_database("egress", migrated=True), pool_size=4, application_name="tests"
    )
    yield engine
    await engine.dispose()


async def rows(engine: AsyncEngine, nid: UUID) -> list[tuple[str, int, str | None]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT state, attempts, last_error FROM ledger.callbacks "
                "WHERE notification_id = :id ORDER BY id"
            ),
            {"id": nid},
        )
    return [(r.state, r.attempts, r.last_error) for r in result]


CONFIG = DeliveryConfig(
    retry=RetryPolicy(base_seconds=600, cap_seconds=600, max_attempts=0), timeout_seconds=2
)


async def owe(engine: AsyncEngine, url: str) -> UUID:
    """A notification that owes two callbacks (sent, failed) to ``url``."""
    tenant, _ = await tenant_with_secret(engine)
    nid = new_id()
    async with engine.begin() as conn:
        await store.append(conn, lifecycle(nid, tenant, url))
    return nid


def policy(allow_private: bool) -> Policy:
    """The policy as the callbacks process builds it from its settings."""
    return Policy.of(LedgerSettings(callback_allow_private=allow_private))


async def test_with_the_setting_off_localhost_is_refused_and_recorded(
    own_engine: AsyncEngine, receiver: Receiver
) -> None:
    strict = policy(allow_private=False)
    on_its_face = await owe(own_engine, f"https://localhost:{receiver.port}/hooks")
    resolved = await owe(own_engine, f"https://hooks.example.com:{receiver.port}/hooks")
    resolver = Resolver({"hooks.example.com": [["127.0.0.1"]]})
    backend = GuardedBackend(strict, resolve=resolver)
    async with callback_http.client(strict, backend=backend) as http:
        assert await CallbackDeliverer(own_engine, http, CONFIG).deliver_due() == 4
    assert receiver.received == []
    # ``localhost`` is refused whatever it resolves to: set aside, for good.
    assert await rows(own_engine, on_its_face) == [
        ("quarantined", 1, "destination_not_allowed"),
        ("quarantined", 1, "destination_not_allowed"),
    ]
    # A name resolving to loopback today may be fixed tomorrow: retried with backoff.
    assert await rows(own_engine, resolved) == [
        ("pending", 1, "destination_not_allowed"),
        ("pending", 1, "destination_not_allowed"),
    ]


async def test_with_the_setting_on_a_loopback_receiver_gets_its_callbacks(
    own_engine: AsyncEngine, receiver: Receiver
) -> None:
    local = policy(allow_private=True)
    nid = await owe(own_engine, f"http://localhost:{receiver.port}/hooks")
    async with callback_http.client(local) as http:  # the machine's resolver
        assert await CallbackDeliverer(own_engine, http, CONFIG).deliver_due() == 2
    assert await rows(own_engine, nid) == [("delivered", 1, None), ("delivered", 1, None)]
    assert len(receiver.received) == 2
    assert {h["Host"] for h, _ in receiver.received} == {f"localhost:{receiver.port}"}
