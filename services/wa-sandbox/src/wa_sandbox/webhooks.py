"""Asynchronous status webhooks: sent → delivered → read, signed, retried on non-200."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from wa_sandbox.meta import sign, webhook_envelope
from wa_sandbox.settings import SandboxSettings


@dataclass
class WebhookStats:
    delivered: int = 0
    retried: int = 0
    failed: int = 0


@dataclass
class WebhookSender:
    settings: SandboxSettings
    client: httpx.AsyncClient
    stats: WebhookStats = field(default_factory=WebhookStats)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def status_sequence(self, wamid: str, recipient: str, callback: str | None) -> None:
        """Schedule this message's sent, delivered and read statuses."""
        task = asyncio.create_task(self._run_sequence(wamid, recipient, callback))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_sequence(self, wamid: str, recipient: str, callback: str | None) -> None:
        s = self.settings
        steps = (("sent", s.sent_delay), ("delivered", s.delivered_delay), ("read", s.read_delay))
        previous = 0.0
        for status, at in steps:
            await asyncio.sleep(max(0.0, at - previous))
            previous = at
            await self.deliver({"statuses": [self._status(wamid, status, recipient, callback)]})

    def _status(
        self, wamid: str, status: str, recipient: str, callback: str | None
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(int(time.time())),
            "recipient_id": recipient,
        }
        if status in {"sent", "delivered"}:
            item["pricing"] = {
                "billable": True,
                "pricing_model": "PMP",
                "category": "utility",
                "type": "regular",
            }
        if callback is not None:
            item["biz_opaque_callback_data"] = callback
        return item

    async def deliver(self, value: dict[str, Any]) -> bool:
        """POST one signed webhook, retrying with backoff until a 200 or attempts run out."""
        s = self.settings
        if not s.webhook_url:
            return False
        body = json.dumps(
            webhook_envelope(s.waba_id, s.display_phone_number, s.phone_number_id, value)
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(s.app_secret, body),
        }
        for attempt in range(s.webhook_attempts):
            try:
                response = await self.client.post(s.webhook_url, content=body, headers=headers)
                if response.status_code == 200:
                    self.stats.delivered += 1
                    return True
            except httpx.HTTPError:
                pass
            self.stats.retried += 1
            await asyncio.sleep(min(30.0, s.webhook_retry_base * 2**attempt))
        self.stats.failed += 1
        return False

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
