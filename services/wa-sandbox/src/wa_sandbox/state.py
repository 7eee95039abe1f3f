"""What the sandbox remembers: accepted messages, 24h windows, and counters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from wa_sandbox.media import MediaStore

WINDOW_SECONDS = 24 * 60 * 60


@dataclass
class WebhookStats:
    delivered: int = 0
    retried: int = 0
    failed: int = 0


@dataclass
class SandboxState:
    messages: list[dict[str, Any]] = field(default_factory=list)
    last_inbound: dict[tuple[str, str], float] = field(default_factory=dict)
    """When each (business number, WhatsApp id or BSUID) last wrote in."""
    users: dict[str, str | None] = field(default_factory=dict)
    """Username users by BSUID, with the WhatsApp id they shared (None: none shared)."""
    inbound: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Users' messages by wamid: ``phone_number_id``, ``from`` (WhatsApp id or BSUID),
    ``timestamp`` and the webhook ``message`` item."""
    reads: list[dict[str, Any]] = field(default_factory=list)
    """Read receipts (and typing indicators) the business sent, in order."""
    media: MediaStore = field(default_factory=MediaStore)
    accepted: int = 0
    rejected: Counter[int] = field(default_factory=Counter)
    webhooks: WebhookStats = field(default_factory=WebhookStats)

    def clear(self) -> None:
        """Forget everything, in place (the webhook scheduler holds a reference)."""
        self.messages.clear()
        self.last_inbound.clear()
        self.users.clear()
        self.inbound.clear()
        self.reads.clear()
        self.media.clear()
        self.accepted = 0
        self.rejected.clear()
        self.webhooks = WebhookStats()

    def in_window(self, sender: str, who: str, now: float) -> bool:
        """Whether ``who`` (a WhatsApp id or a BSUID) wrote to ``sender`` within 24 h."""
        opened = self.last_inbound.get((sender, who))
        return opened is not None and now - opened < WINDOW_SECONDS

    def stats(self, pending_webhooks: int) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "inbound": len(self.inbound),
            "reads": len(self.reads),
            "media": len(self.media),
            "rejected": {str(code): n for code, n in sorted(self.rejected.items())},
            "webhooks": {
                "delivered": self.webhooks.delivered,
                "retried": self.webhooks.retried,
                "failed": self.webhooks.failed,
                "pending": pending_webhooks,
            },
        }
