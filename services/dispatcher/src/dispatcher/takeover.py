"""Before sending again after an attempt that may have reached Meta unrecorded.

Meta's Cloud API has no idempotency key. When a holder dies between Meta's ``200`` and the
``sent`` commit, or Meta's answer is lost on the way back, the next dispatcher cannot tell
a message Meta accepted from one it never saw. Meta can: every status webhook echoes the
notification id, and the ledger answers ``accepted_wamid`` from those statuses. So the next
dispatcher looks there first, and sends again only when no status came within
``TAKEOVER_GRACE_SECONDS`` of the unconfirmed attempt's start. A send that Meta accepted and
never reported on (webhooks lost for good) is still sent twice: docs/reliability.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from dispatcher.accepted_wamid import AcceptedWamids

POLL_SECONDS = 5.0
"""Within the grace, how often the ledger is asked again: a status that arrives is found
within this, instead of only when the grace ends."""


@dataclass(frozen=True)
class Verdict:
    """``wamid``: Meta had accepted it, record that. Else look again in ``wait`` seconds,
    or (``wait`` 0, the grace is over) send again."""

    wamid: str | None = None
    wait: float = 0.0


class Takeover:
    def __init__(self, accepted: AcceptedWamids, grace_seconds: float) -> None:
        self._accepted = accepted
        self._grace = grace_seconds

    async def verdict(self, notification_id: UUID, unconfirmed_for: float) -> Verdict:
        """``unconfirmed_for``: seconds since the unconfirmed attempt started."""
        wamid = await self._accepted.of(notification_id)
        if wamid is not None:
            return Verdict(wamid=wamid)
        return Verdict(wait=min(POLL_SECONDS, max(0.0, self._grace - unconfirmed_for)))
