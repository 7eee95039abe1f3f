"""An async HTTP load generator: open loop (a fixed rate, whatever the answers take) and
closed loop (N workers back to back, the maximum). aiohttp, one process, loopback only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

Request = Callable[[int], tuple[str, dict[str, Any], dict[str, str]]]
"""Request number → (url, JSON body, headers)."""


@dataclass
class Run:
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    answers: dict[int, Any] = field(default_factory=dict)
    """Request number → JSON answer of each accepted request (when kept)."""

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, float]:
        return {
            "requests_ok": self.ok,
            "requests_failed": self.failed,
            "per_second": round(self.rate, 1),
            "p50_ms": round(self.percentile(0.50) * 1000, 1),
            "p95_ms": round(self.percentile(0.95) * 1000, 1),
            "p99_ms": round(self.percentile(0.99) * 1000, 1),
        }


async def _one(
    session: aiohttp.ClientSession, request: Request, i: int, run: Run, keep: bool, ok: int
) -> None:
    url, body, headers = request(i)
    started = time.perf_counter()
    try:
        async with session.post(url, json=body, headers=headers) as answer:
            data = await answer.json(content_type=None) if keep else await answer.read()
            if answer.status == ok:
                run.ok += 1
                run.latencies.append(time.perf_counter() - started)
                if keep:
                    run.answers[i] = data
            else:
                run.failed += 1
    except (aiohttp.ClientError, TimeoutError):
        run.failed += 1


def _session(connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=30),
    )


async def closed_loop(
    request: Request, seconds: float, workers: int, ok: int = 202, keep: bool = False
) -> Run:
    """``workers`` requests in flight at all times for ``seconds``: the maximum rate."""
    run = Run()
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds
    async with _session(workers) as session:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                await _one(session, request, next(counter), run, keep, ok)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        run.seconds = time.perf_counter() - started
    return run


async def open_loop(
    request: Request, rate: float, seconds: float, ok: int = 202, keep: bool = False
) -> Run:
    """One request every 1/``rate`` s for ``seconds``, each on its own task: latency as a
    client at that rate sees it, queueing included."""
    run = Run()
    total = int(rate * seconds)
    async with _session(1000) as session:
        started = time.perf_counter()
        tasks = []
        for i in range(total):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(_one(session, request, i, run, keep, ok)))
        await asyncio.gather(*tasks)
        run.seconds = time.perf_counter() - started
    return run
