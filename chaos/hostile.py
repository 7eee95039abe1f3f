"""The hostile tenant of ``make chaos``, and the receivers its callbacks go to.

During its fault window a second tenant sends borderline requests (the largest safe
integer, the deepest allowed metadata, components near the size limit, and inputs the API
must refuse: a 400-digit integer, ``NaN``, a body nested 3,000 levels, one event too large
for a queue message), with status callbacks pointed at two hostile receivers on 127.0.0.1:
one answers a byte every 9 s, the other streams an endless body. Meanwhile a tenth of the
main load asks for callbacks at a well-behaved receiver, which notes when each arrives.

What the checker wants from this: no 5xx for any of the hostile requests, everything of
theirs answered 202 reaching a final status, and for the other tenant nothing lost and its
callbacks as quick while the hostile receivers hold their connections as before and after.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from notif_core.json_rules import MAX_DEPTH, MAX_SAFE_INTEGER

DRIP_EVERY_SECONDS = 9.0
HOSTILE_RATE = 5.0
"""Borderline requests per second during the window."""
RETRY_FOR_SECONDS = 60.0
"""A request that got no answer (ingest killed by another fault) is sent again this long."""
HOSTILE_PREFIX = "+1417"
"""The hostile tenant's recipients; the main load's are +1416…."""


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def _template(text_bytes: int) -> dict[str, Any]:
    return {
        "name": "hello_world",
        "language": "en_US",
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "x" * text_bytes}]}
        ],
    }


def borderline(kind: str, to: str, drip: str, endless: str) -> tuple[str, frozenset[int]]:
    """One request body of ``kind`` as raw JSON text, and the statuses the API may answer."""
    hello = {"to": to, "template": {"name": "hello_world", "language": "en_US"}}
    if kind == "largest_safe_integer":
        body = hello | {"metadata": {"n": MAX_SAFE_INTEGER, "m": -MAX_SAFE_INTEGER}}
        return json.dumps(body | {"callback_url": drip}), frozenset({202})
    if kind == "deepest_metadata":
        body = hello | {"metadata": _nested(MAX_DEPTH - 1)}
        return json.dumps(body | {"callback_url": endless}), frozenset({202})
    if kind == "large_components":
        # Meta takes no body this long (1,024 characters once filled in): refused at the
        # door once the template catalogue is synced, accepted (and failed by Meta) before.
        body = {"to": to, "template": _template(200_000), "callback_url": drip}
        return json.dumps(body), frozenset({202, 422})
    if kind == "integer_400_digits":
        raw = json.dumps(hello)[:-1] + ',"metadata":{"n":1' + "0" * 400 + "}}"
        return raw, frozenset({422})
    if kind == "nan":
        return json.dumps(hello)[:-1] + ',"metadata":{"n":NaN}}', frozenset({422})
    if kind == "nested_3000":
        return json.dumps(hello)[:-1] + ',"metadata":' + '{"a":' * 3000 + "1" + "}" * 3000 + "}", (
            frozenset({400, 422})
        )
    if kind == "event_too_large":
        body = {"to": to, "template": _template(256 * 1024 - 300)}
        return json.dumps(body), frozenset({413, 422})
    raise ValueError(kind)


KINDS = (
    "largest_safe_integer",
    "deepest_metadata",
    "large_components",
    "integer_400_digits",
    "nan",
    "nested_3000",
    "event_too_large",
)


@dataclass
class Receivers:
    """The good receiver (aiohttp) and the two hostile ones (raw sockets), on loopback."""

    arrivals: dict[str, float] = field(default_factory=dict)
    """Notification id → when its ``read`` callback first arrived (wall clock)."""
    hostile_connections: int = 0
    _servers: list[asyncio.AbstractServer] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    ports: dict[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}/callback"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/callback", self._good)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.ports["good"] = int(self._runner.addresses[0][1])
        for name, handler in (("drip", self._drip), ("endless", self._endless)):
            server = await asyncio.start_server(handler, "127.0.0.1", 0)
            self._servers.append(server)
            self.ports[name] = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _good(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("status") == "read" and body["id"] not in self.arrivals:
            self.arrivals[body["id"]] = time.time()
        return web.Response(text="ok")

    async def _read_request(self, reader: asyncio.StreamReader) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)

    async def _drip(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.hostile_connections += 1
        with contextlib.suppress(Exception):
            await self._read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            while not writer.is_closing():
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(DRIP_EVERY_SECONDS)
        writer.close()

    async def _endless(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.hostile_connections += 1
        chunk = b"%x\r\n%s\r\n" % (65536, b"y" * 65536)
        with contextlib.suppress(Exception):
            await self._read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            while not writer.is_closing():
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(0.01)
        writer.close()


@dataclass
class HostileTenant:
    key: str
    base_url: str
    receivers: Receivers
    answers: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    unexpected: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    window: tuple[float, float] | None = None
    _numbers: itertools.count[int] = field(default_factory=itertools.count)

    async def run(self, seconds: float) -> None:
        """Borderline requests at :data:`HOSTILE_RATE` for ``seconds``."""
        started = time.time()
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            tasks = []
            for n in range(int(seconds * HOSTILE_RATE)):
                await asyncio.sleep(max(0.0, started + n / HOSTILE_RATE - time.time()))
                tasks.append(asyncio.create_task(self._one(session, KINDS[n % len(KINDS)])))
            await asyncio.gather(*tasks)
        self.window = (started, time.time())

    async def _one(self, session: aiohttp.ClientSession, kind: str) -> None:
        to = f"{HOSTILE_PREFIX}{next(self._numbers):07d}"
        raw, allowed = borderline(
            kind, to, self.receivers.url("drip"), self.receivers.url("endless")
        )
        headers = {"X-API-Key": self.key, "Content-Type": "application/json"}
        status, data = 0, None
        give_up = time.monotonic() + RETRY_FOR_SECONDS
        while status == 0 and time.monotonic() < give_up:
            try:
                async with session.post(
                    self.base_url + "/v1/notifications", data=raw.encode(), headers=headers
                ) as answer:
                    status = answer.status
                    data = await answer.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                await asyncio.sleep(0.5)  # ingest killed by another fault: ask again
        self.answers[kind][status] += 1
        if status == 202 and isinstance(data, dict):
            self.accepted.append(data["id"])
        if status != 0 and status not in allowed and status not in (429, 503):
            self.unexpected.append({"kind": kind, "status": status})

    def report(self, final: dict[str, str]) -> dict[str, Any]:
        """The figures, given the final status of each notification this tenant got
        accepted (``final``: id → status, missing when the ledger has none)."""
        not_final = [nid for nid in self.accepted if final.get(nid) is None]
        return {
            "requests": sum(sum(c.values()) for c in self.answers.values()),
            "answers": {kind: dict(c) for kind, c in self.answers.items()},
            "server_errors": sum(
                n for c in self.answers.values() for s, n in c.items() if s >= 500 and s != 503
            ),
            "unexpected_answers": self.unexpected,
            "accepted": len(self.accepted),
            "accepted_not_final": not_final,
            "hostile_receiver_connections": self.receivers.hostile_connections,
        }


def callback_figures(
    receivers: Receivers, window: tuple[float, float] | None, accepted_at: dict[str, float]
) -> dict[str, Any]:
    """Time from a main-tenant notification's 202 to its ``read`` callback at the good
    receiver, split by whether it was accepted while the hostile tenant was active."""

    def summary(delays: list[float]) -> dict[str, Any]:
        if not delays:
            return {"count": 0}
        ordered = sorted(delays)
        return {
            "count": len(ordered),
            "p50_s": round(ordered[len(ordered) // 2], 3),
            "p99_s": round(ordered[max(0, int(len(ordered) * 0.99) - 1)], 3),
        }

    inside: list[float] = []
    outside: list[float] = []
    for nid, arrived in receivers.arrivals.items():
        accepted = accepted_at.get(nid)
        if accepted is None:
            continue
        during = window is not None and window[0] <= accepted <= window[1]
        (inside if during else outside).append(arrived - accepted)
    return {
        "read_callbacks": len(receivers.arrivals),
        "accepted_to_callback_during_hostile": summary(inside),
        "accepted_to_callback_otherwise": summary(outside),
    }
