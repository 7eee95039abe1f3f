"""The templates Meta stopped sending, as ingest's catalogue knows them
(``ingest.unsendable_templates_v1()``), kept in memory and read again by the first send
after ``REFRESH_SECONDS``: one statement every few seconds instead of one per send, and
never a copy older than that.

A notification queued before Meta paused, disabled or rejected its template is held (or
failed) by :func:`dispatcher.decisions.on_template`; it goes out again once the template is
APPROVED and this copy has been read again. While ingest's schema cannot be read, the last
copy stands (an empty one at start: Meta decides).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from dispatcher.ingest_contract import UNSENDABLE_TEMPLATES
from notif_core.logging import get_logger

log = get_logger(__name__)
REFRESH_SECONDS = 5.0
_UNSENDABLE = text(UNSENDABLE_TEMPLATES)


class TemplateStatuses(Protocol):
    async def stopped(self, waba_id: str, name: str, language: str) -> str | None:
        """The template's status when Meta would not send it now, else None."""
        ...


class CatalogueStatuses:
    """:class:`TemplateStatuses` from ingest's contract, refreshed in the background."""

    def __init__(self, engine: AsyncEngine, refresh: float = REFRESH_SECONDS) -> None:
        self._engine = engine
        self._refresh = refresh
        self._stopped: dict[tuple[str, str, str], str] = {}
        self._loaded_at = -float("inf")
        self._loading: asyncio.Task[None] | None = None

    async def stopped(self, waba_id: str, name: str, language: str) -> str | None:
        if time.monotonic() - self._loaded_at > self._refresh:
            if self._loading is None:  # one read at a time, shared by concurrent sends
                self._loading = asyncio.ensure_future(self._load_once())
            await asyncio.shield(self._loading)
        return self._stopped.get((waba_id, name, language))

    async def _load_once(self) -> None:
        started = time.monotonic()
        try:
            async with self._engine.connect() as conn:
                rows = (await conn.execute(_UNSENDABLE)).all()
            self._stopped = {(r.waba_id, r.name, r.language): r.status for r in rows}
        except Exception as exc:  # keep the last copy; look again after the period
            log.warning("template_statuses_not_read", error=type(exc).__name__)
        finally:
            self._loaded_at = started
            self._loading = None


@dataclass(frozen=True)
class TemplatePolicy:
    """What the handler needs to hold or fail a send of a template Meta stopped sending."""

    statuses: TemplateStatuses
    waba_of: Callable[[str], str | None]
    """A sender number's business account (``CoreSettings.waba_of``); None for a number
    ``SENDER_WABAS`` does not list when it is set: no catalogue speaks for it."""
    mode: Literal["hold", "fail"] = "hold"
    hold_seconds: float = 60.0
    max_hold_seconds: float = 24 * 3600.0

    async def status(self, sender: str, message: dict[str, Any]) -> str | None:
        """The status of the message's template when Meta would not send it now; None for
        a sendable template, or a message that is not a template."""
        template = message.get("template") if message.get("type") == "template" else None
        if not isinstance(template, dict) or not isinstance(template.get("name"), str):
            return None
        language = template.get("language")
        code = language.get("code") if isinstance(language, dict) else language
        if not isinstance(code, str):
            return None
        waba_id = self.waba_of(sender)
        if waba_id is None:
            return None
        return await self.statuses.stopped(waba_id, template["name"], code)
