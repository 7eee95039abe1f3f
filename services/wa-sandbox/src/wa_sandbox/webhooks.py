"""Outgoing webhooks: scheduled, batched per sender, signed, retried on any non-200.

Statuses that fall due within ``batch_window`` of each other go out in one POST, as Meta
batches them, which also keeps the sandbox fast at 1,000 sends/s. Every wait is multiplied
by ``time_scale`` so tests can compress minutes of retries into moments.

Changes of other fields than ``messages`` (template status and category, phone number
quality, account updates) go out one per POST, signed and retried the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from wa_sandbox.config import SandboxConfig
from wa_sandbox.meta import change_envelope, sign, webhook_envelope
from wa_sandbox.metrics import WEBHOOKS
from wa_sandbox.state import SandboxState

MAX_CONCURRENT_POSTS = 64


@dataclass(order=True)
class _Pending:
    due: float
    seq: int
    phone_number_id: str = field(compare=False)
    field_name: str = field(compare=False)
    """``statuses`` or ``messages`` of a ``messages`` change; the change's field otherwise."""
    item: dict[str, Any] = field(compare=False)
    contact: dict[str, Any] | None = field(compare=False, default=None)
    change: bool = field(compare=False, default=False)
    """``item`` is the whole value of a ``field_name`` change."""


class WebhookScheduler:
    def __init__(
        self,
        config: Callable[[], SandboxConfig],
        state: SandboxState,
        session: aiohttp.ClientSession,
    ) -> None:
        self._config = config
        self._state = state
        self._session = session
        self._heap: list[_Pending] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._posts: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(MAX_CONCURRENT_POSTS)
        self._runner: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._heap) + len(self._posts)

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run())

    async def close(self) -> None:
        tasks = [t for t in (self._runner, *self._posts) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def clear(self) -> None:
        self._heap.clear()

    def schedule(
        self,
        delay: float,
        phone_number_id: str,
        field_name: str,
        item: dict[str, Any],
        contact: dict[str, Any] | None = None,
    ) -> None:
        """Deliver ``item`` after ``delay`` seconds of sandbox time."""
        due = time.monotonic() + delay * self._config().webhooks.time_scale
        heapq.heappush(
            self._heap, _Pending(due, next(self._seq), phone_number_id, field_name, item, contact)
        )
        self._wake.set()

    def schedule_change(
        self, delay: float, field_name: str, value: dict[str, Any], phone_number_id: str = ""
    ) -> None:
        """Deliver a ``field_name`` change whose value is ``value`` after ``delay`` seconds
        of sandbox time, in a POST of its own; a change about a number goes out under that
        number's business account."""
        due = time.monotonic() + delay * self._config().webhooks.time_scale
        heapq.heappush(
            self._heap,
            _Pending(due, next(self._seq), phone_number_id, field_name, value, change=True),
        )
        self._wake.set()

    async def _run(self) -> None:
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            wait = self._heap[0].due - time.monotonic()
            if wait > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            self._flush_due()

    def _flush_due(self) -> None:
        config = self._config()
        cfg = config.webhooks
        horizon = time.monotonic() + cfg.batch_window * cfg.time_scale
        groups: dict[tuple[str, str], list[_Pending]] = {}
        changes: list[_Pending] = []
        while self._heap and self._heap[0].due <= horizon:
            pending = heapq.heappop(self._heap)
            if pending.change:
                changes.append(pending)
            else:
                groups.setdefault((pending.phone_number_id, pending.field_name), []).append(pending)
        for (phone_number_id, field_name), items in groups.items():
            sender = config.sender(phone_number_id)
            display = sender.display_phone_number if sender else ""
            waba_id = config.waba_of(sender) if sender else config.waba_id
            for start in range(0, len(items), cfg.max_batch):
                chunk = items[start : start + cfg.max_batch]
                value: dict[str, Any] = {field_name: [p.item for p in chunk]}
                contacts = [p.contact for p in chunk if p.contact is not None]
                if contacts:
                    value["contacts"] = contacts
                self._spawn(webhook_envelope(waba_id, display, phone_number_id, value))
        for pending in changes:
            about = config.sender(pending.phone_number_id)
            waba_id = config.waba_of(about) if about else config.waba_id
            self._spawn(change_envelope(waba_id, pending.field_name, pending.item, time.time()))

    def _spawn(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        task = asyncio.create_task(self._post(body))
        self._posts.add(task)
        task.add_done_callback(self._posts.discard)

    async def _post(self, body: bytes) -> None:
        config = self._config()
        if not config.webhook_url:
            return
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(config.app_secret, body),
        }
        cfg = config.webhooks
        async with self._limit:
            for attempt in range(cfg.max_attempts):
                try:
                    async with self._session.post(
                        config.webhook_url, data=body, headers=headers
                    ) as response:
                        await response.read()
                        if response.status == 200:
                            self._state.webhooks.delivered += 1
                            WEBHOOKS.labels(result="delivered").inc()
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if attempt + 1 < cfg.max_attempts:
                    self._state.webhooks.retried += 1
                    WEBHOOKS.labels(result="retried").inc()
                    await asyncio.sleep(cfg.retry_base * 2**attempt * cfg.time_scale)
        self._state.webhooks.failed += 1
        WEBHOOKS.labels(result="failed").inc()
