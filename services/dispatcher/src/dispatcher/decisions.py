"""What becomes of a dispatch command, decided from facts alone.

The handler reads facts and asks these functions; each answers with a verdict, and the one
verdict that ends the command is applied as at most one gate transition and one event.
Nothing here does I/O or reads a clock, so every branch is tested with plain values.

Facts are read in the order that costs least and commits to nothing early, so the questions
come in that order too:

1. :func:`on_arrival`: past ``expires_at`` (only the clock is needed).
2. :func:`on_projection`, then :func:`on_recipient`: opt-outs and the 24h window, from one
   statement, once the ledger has projected what ingest acknowledged; :func:`on_template`:
   a template Meta stopped sending (from an in-memory copy of ingest's catalogue).
3. :func:`on_breaker`, :func:`on_messaging_limit`, then :func:`on_admission`: the sender's
   breaker, a place among the users the portfolio may reach (:func:`business_initiated`
   sends only), then the throttle, which reserves a place in line only for a message that
   may go.
4. :func:`on_claim`: the gate, last, so a claim's lease is spent sending, not waiting.
5. :func:`on_takeover`: after an attempt that may have reached Meta unrecorded.
6. :func:`on_result`: Meta's answer, through ``notif_core.meta_codes``.

Waiting never counts as failing: a :class:`Wait` goes back to the queue as a fresh copy and
uses neither a receive nor an attempt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Final, Literal

from dispatcher.breaker import BreakerState
from dispatcher.cloud_api import SendResult
from dispatcher.gate import Claim
from dispatcher.messaging_limit import Place
from dispatcher.recipients import RecipientFacts
from dispatcher.settings import WindowMode
from dispatcher.throttle import Admission
from notif_core.backoff import RetryPolicy
from notif_core.events import MetaError, NotificationAccepted
from notif_core.meta_codes import MetaCode, Reaction, reaction
from notif_core.vocabulary import ClaimState

PROJECTION_RECHECK: Final = 1.0
"""While the ledger is behind on a recipient past the inline wait, the command comes back
this much later (a requeue: no receive)."""
TAKEOVER_POLL: Final = 5.0
"""Within the takeover grace, how often the ledger is asked again: a status that arrives is
found within this, instead of only when the grace ends."""
MAX_ATTEMPTS_EXCEEDED: Final = "max_attempts_exceeded"
"""Our code (never Meta's) for a notification that met only retryable errors until its
attempts ran out (or its next one would come after ``expires_at``)."""
WINDOW_CLOSED: Final = MetaError(
    code=int(MetaCode.RE_ENGAGEMENT_MESSAGE),
    title="Re-engagement message",
    details="No message from the recipient in the last 24 hours; "
    "send a template instead (checked before calling Meta).",
)
"""What Meta itself would answer for free-form text outside the 24h window."""
RETRIED: Final = frozenset({Reaction.RETRY, Reaction.THROTTLE, Reaction.PAIR_LIMIT})
"""Reactions that send the message again rather than failing it."""


# --- verdicts before the call ---------------------------------------------------------------


@dataclass(frozen=True)
class Expire:
    """Past ``expires_at``: end it ``expired`` unless its fate is decided already."""

    expires_at: datetime


@dataclass(frozen=True)
class Suppress:
    """The recipient opted out: end it ``suppressed``, nothing sent."""

    reason: str = "recipient opted out"


@dataclass(frozen=True)
class CloseWindow:
    """Free-form text to a 24h window certainly closed: ``failed`` with :data:`WINDOW_CLOSED`
    without calling Meta."""

    error: MetaError = field(default_factory=lambda: WINDOW_CLOSED)


@dataclass(frozen=True)
class LeaveToMeta:
    """No window seen, but the command is too fresh to be sure (the user's webhook may still
    be on its way): send, and let Meta answer if the window is closed."""

    accepted_for: float


@dataclass(frozen=True)
class Wait:
    """Come back in ``seconds`` as a fresh copy: no receive, no attempt used."""

    seconds: float
    limit: Literal["projection", "breaker", "pair", "sender", "template", "messaging_limit"]


@dataclass(frozen=True)
class Go:
    """Admitted by the throttle: claim after ``sleep`` seconds (its place in line), then send."""

    sleep: float


class Projection(Enum):
    """How far the ledger's read of a recipient can be trusted."""

    SETTLED = "settled"
    """The ledger has projected every inbound ingest acknowledged from the recipient."""
    PAST_BOUND = "past_bound"
    """It has not, but for longer than the bound: take the ledger as it is, so an inbound
    it could never project does not hold the recipient's sends forever."""
    BEHIND = "behind"
    """It has not yet (the inbound may be a STOP, or a START lifting one): wait for it."""


def on_arrival(command: NotificationAccepted, now: datetime) -> Expire | None:
    """None: not expired, read on."""
    expires = command.payload.expires_at
    return Expire(expires) if expires is not None and now >= expires else None


def on_projection(facts: RecipientFacts, projection_wait: float) -> Projection:
    """Only recipients with an inbound in flight wait, for at most ``projection_wait``
    seconds from ingest's acknowledgement."""
    behind_for = facts.behind_for()
    if behind_for is None:
        return Projection.SETTLED
    if behind_for >= projection_wait:
        return Projection.PAST_BOUND
    return Projection.BEHIND


def on_recipient(
    command: NotificationAccepted,
    facts: RecipientFacts | None,
    now: datetime,
    window_mode: WindowMode,
    window_certain_after: float,
) -> Suppress | CloseWindow | LeaveToMeta | Wait | None:
    """Opt-outs and the 24h window; ``facts`` None: the ledger is still behind.

    The ledger's read models lag Meta's webhooks, so neither check trusts them alone. An
    opt-out is ours alone to honour, so it waits for the projection. A window is open if the
    ledger or ingest's mark saw an inbound within 24 h; when neither did, the send fails
    early only once the command is older than ``window_certain_after`` (its user's webhook
    cannot still be on its way), else Meta decides (its own re-engagement error is terminal
    too). None: nothing stops the send."""
    if facts is None:
        return Wait(PROJECTION_RECHECK, "projection")
    if facts.suppressed:
        return Suppress()
    free_form = command.payload.message.get("type") != "template"
    if not free_form or window_mode != "enforce" or facts.window_open(now):
        return None
    accepted_for = (now - command.occurred_at).total_seconds()
    if accepted_for < window_certain_after:
        return LeaveToMeta(accepted_for)
    return CloseWindow()


@dataclass(frozen=True)
class StoppedTemplate:
    """The template is one Meta stopped sending (``TEMPLATE_UNAVAILABLE=fail``, or held
    past ``TEMPLATE_HOLD_MAX_HOURS``): ``failed`` with the code Meta answers for it, without
    calling Meta."""

    error: MetaError


TEMPLATE_CODES: Final = {
    "PAUSED": (MetaCode.TEMPLATE_IS_PAUSED, "Template is Paused"),
    "DISABLED": (MetaCode.TEMPLATE_IS_DISABLED, "Template has been disabled"),
}
"""Meta's code per status (132015, 132016); any other status is 132001, as Meta answers
for a template that does not exist (yet) in that language."""


def within_hold(command: NotificationAccepted, now: datetime, max_hold_seconds: float) -> bool:
    """Whether a send held for its template may still wait: held less than
    ``max_hold_seconds`` since it was due (its ``send_at``, else its acceptance)."""
    due = command.payload.send_at or command.occurred_at
    return (now - due).total_seconds() < max_hold_seconds


def on_template(
    command: NotificationAccepted,
    status: str | None,
    now: datetime,
    mode: Literal["hold", "fail"],
    hold_seconds: float,
    max_hold_seconds: float,
) -> Wait | StoppedTemplate | None:
    """A template send whose template Meta stopped sending (``status``: its catalogue
    status, None while it is APPROVED or unknown here) waits for it to come back (``hold``)
    for at most ``max_hold_seconds`` since the command was accepted, or fails now."""
    if status is None:
        return None
    if mode == "hold" and within_hold(command, now, max_hold_seconds):
        return Wait(hold_seconds, "template")
    code, title = TEMPLATE_CODES.get(
        status,
        (MetaCode.TEMPLATE_DOES_NOT_EXIST, "Template name does not exist in the translation"),
    )
    details = f"The template is {status} in Meta's catalogue (checked before calling Meta)."
    return StoppedTemplate(MetaError(code=int(code), title=title, details=details))


def business_initiated(
    command: NotificationAccepted, facts: RecipientFacts | None, now: datetime
) -> bool:
    """A template to a user whose customer-service window is not seen open: it counts
    toward Meta's messaging limit (a template inside the window does not)."""
    is_template = command.payload.message.get("type") == "template"
    return is_template and (facts is None or not facts.window_open(now))


def on_messaging_limit(place: Place | None) -> Wait | None:
    """A business-initiated send without a place in its portfolio's messaging limit waits
    until the oldest place frees (capped); ``place`` None: no limit applies."""
    return None if place is None or place.taken else Wait(place.wait, "messaging_limit")


def on_breaker(state: BreakerState | None, probe_won: bool, now: float) -> Wait | None:
    """An open breaker holds the sender's messages until the probe time, and then lets
    exactly one through (``probe_won``: this one took the probe). None: send (a probe when
    ``state`` is not None). ``now``: epoch seconds, the breaker's clock."""
    if state is None or probe_won:
        return None
    return Wait(max(1.0, state.next_probe_at - now), "breaker")


def on_admission(admission: Admission) -> Go | Wait:
    """The throttle's answer: a short wait happens in the worker, a longer one in the queue."""
    if admission.limit is None:
        return Go(admission.wait)
    return Wait(admission.wait, admission.limit)


# --- the gate's answer ----------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """The claim is ours: send, as attempt ``attempt``."""

    attempt: int


@dataclass(frozen=True)
class LookForStatuses:
    """The claim is ours, but an earlier attempt may have reached Meta unrecorded: ask
    Meta's statuses (:func:`on_takeover`) before sending."""

    attempt: int
    unconfirmed_for: float


@dataclass(frozen=True)
class ReportSent:
    """Sent already (a redelivery, or an earlier attempt Meta's statuses reveal): publish
    ``sent`` again with the same id, never send."""

    wamid: str


@dataclass(frozen=True)
class ReportCancelled:
    """The client's cancel won the gate: report it, never send."""


@dataclass(frozen=True)
class ComeBack:
    """Another holder's claim is live: look again when its lease ends (counts a receive)."""

    lease_left: float

    @property
    def seconds(self) -> float:
        return self.lease_left + 1


@dataclass(frozen=True)
class Settled:
    """Failed or expired by whoever settled it, who reported it too: drop the message."""


def on_claim(
    claim: Claim,
) -> Send | LookForStatuses | ReportSent | ReportCancelled | ComeBack | Settled:
    if claim.won:
        if claim.unconfirmed_for is not None:
            return LookForStatuses(claim.attempts, claim.unconfirmed_for)
        return Send(claim.attempts)
    if claim.state == ClaimState.SENT and claim.wamid is not None:
        return ReportSent(claim.wamid)
    if claim.state == ClaimState.CANCELLED:
        return ReportCancelled()
    if claim.state == ClaimState.CLAIMED:
        return ComeBack(claim.lease_seconds_left)
    return Settled()


# --- after an attempt that may have reached Meta unrecorded ---------------------------------


@dataclass(frozen=True)
class HoldClaim:
    """No status yet, within the grace: keep the claim without counting an attempt, and
    look again in ``seconds`` (nobody sends meanwhile, and a cancel cannot slip in)."""

    seconds: float


@dataclass(frozen=True)
class Resend:
    """No status within the grace: send again (the residual double send,
    docs/reliability.md)."""

    attempt: int


def on_takeover(
    accepted_wamid: str | None, unconfirmed_for: float, grace: float, attempt: int
) -> ReportSent | HoldClaim | Resend:
    """Meta's Cloud API has no idempotency key. When a holder dies between Meta's 200 and
    the ``sent`` commit, or Meta's answer is lost, the next holder cannot tell a message Meta
    accepted from one it never saw. Meta can: every status echoes the notification id, and
    the ledger answers ``accepted_wamid`` from them. ``unconfirmed_for``: seconds since the
    unconfirmed attempt started; ``grace``: ``TAKEOVER_GRACE_SECONDS``."""
    if accepted_wamid is not None:
        return ReportSent(accepted_wamid)
    wait = min(TAKEOVER_POLL, max(0.0, grace - unconfirmed_for))
    return HoldClaim(wait) if wait > 0 else Resend(attempt)


# --- Meta's answer --------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """Meta accepted it: record the wamid (closing the breaker if this was its probe)."""

    answer: SendResult
    wamid: str
    close_breaker: bool


@dataclass(frozen=True)
class OpenBreaker:
    """The sender cannot send: open its breaker; this attempt does not count."""

    code: int


@dataclass(frozen=True)
class WaitForPair:
    """Meta's pair rate limit: this recipient waits another pair interval."""


@dataclass(frozen=True)
class HoldPaused:
    """Meta answered that the template is paused (132015) while sends of paused templates
    are held: wait ``seconds`` and look again; this attempt does not count."""

    seconds: float


@dataclass(frozen=True)
class Retry:
    """Send again after ``delay`` seconds; ``throttle``: lower the sender's rate first."""

    error: MetaError
    attempt: int
    delay: float
    next_attempt_at: datetime
    unconfirmed: bool
    throttle: bool = False


@dataclass(frozen=True)
class Fail:
    """``failed`` for good, with Meta's error (or :data:`MAX_ATTEMPTS_EXCEEDED`);
    ``throttle``: lower the sender's rate too."""

    error: MetaError
    attempts: int
    throttle: bool = False


def error_of(result: SendResult) -> MetaError:
    """Meta's error in a failed send's answer (``unknown`` when the answer named none)."""
    return result.error or MetaError(code="unknown")


def is_retryable(code: int | str) -> bool:
    """Whether ``code`` sends the message again (after a backoff or a wait) instead of
    failing it."""
    return reaction(code) in RETRIED


def on_result(
    result: SendResult,
    *,
    attempt: int,
    probing: bool,
    retry: RetryPolicy,
    expires_at: datetime | None,
    now: datetime,
    rng: random.Random | None = None,
    paused_hold: float | None = None,
) -> Sent | OpenBreaker | WaitForPair | HoldPaused | Retry | Fail:
    """``attempt``: this attempt's number (from 1); ``probing``: it was the sender's breaker
    probe. Retries back off with full jitter (``rng`` for tests) and never go past
    ``expires_at``: once one would, or the attempts are spent, a retryable error ends
    ``failed`` with :data:`MAX_ATTEMPTS_EXCEEDED`. ``paused_hold``: seconds a send of a
    paused template waits (``TEMPLATE_UNAVAILABLE=hold`` within its hold limit), None to
    fail it: Meta may pause a template before the catalogue's copy says so."""
    if result.wamid is not None:
        return Sent(result, result.wamid, close_breaker=probing)
    error = error_of(result)
    if paused_hold is not None and error.code == int(MetaCode.TEMPLATE_IS_PAUSED):
        return HoldPaused(paused_hold)
    what = reaction(error.code)
    if what is Reaction.BREAKER:
        return OpenBreaker(int(error.code))
    if what is Reaction.PAIR_LIMIT:
        return WaitForPair()
    throttle = what is Reaction.THROTTLE
    if what not in RETRIED:
        return Fail(error, attempt, throttle)
    if attempt < retry.max_attempts:
        delay = retry.delay(attempt, rng)
        next_at = now + timedelta(seconds=delay)
        if expires_at is None or next_at < expires_at:
            return Retry(error, attempt, delay, next_at, result.unconfirmed, throttle)
    gave_up = MetaError(
        code=MAX_ATTEMPTS_EXCEEDED,
        title="Gave up after retryable errors",
        details=f"last error {error.code}: {error.title or ''}".strip(),
    )
    return Fail(gave_up, attempt, throttle)
