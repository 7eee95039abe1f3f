"""Handling one dispatch message: read the facts, ask ``decisions.py``, apply one verdict.

The SQS message is deleted only after its outcome event is published. Before calling Meta
the dispatcher claims the notification at the gate (``gate.py``): a cancelled, expired or
already-sent notification is never sent, and two replicas never send the same one. What
becomes of the command is decided by the pure functions of ``decisions.py``; this module
reads the facts they need, in their order, and carries out the verdict that ends the
command: at most one gate transition and one event.
"""

from __future__ import annotations

import asyncio
import time
from typing import TypeVar

import structlog
from pydantic import ValidationError

from dispatcher import decisions
from dispatcher.accepted_wamid import AcceptedWamids
from dispatcher.account_health import AccountHealth
from dispatcher.breaker import Breaker
from dispatcher.cloud_api import CloudApi, SendResult
from dispatcher.decisions import (
    CloseWindow,
    ComeBack,
    Expire,
    Fail,
    HoldClaim,
    HoldPaused,
    LeaveToMeta,
    LookForStatuses,
    OpenBreaker,
    Projection,
    ReportCancelled,
    ReportSent,
    Resend,
    Retry,
    Send,
    Sent,
    Settled,
    StoppedTemplate,
    Suppress,
    Wait,
    WaitForPair,
)
from dispatcher.gate import Gate
from dispatcher.messaging_limit import MessagingLimits, Place
from dispatcher.metrics import (
    BREAKER_OPEN,
    BREAKER_WAITS,
    MESSAGING_LIMIT_HOLDS,
    META_ERRORS,
    PACING_WAITS,
    RETRIES,
    SEND_SECONDS,
    SENDS,
    TAKEOVERS,
    TEMPLATE_HOLDS,
)
from dispatcher.quarantine import DispatchQuarantine
from dispatcher.recipients import RecipientFacts, RecipientPolicy
from dispatcher.settings import WindowMode
from dispatcher.templates import TemplatePolicy
from dispatcher.throttle import INLINE_WAIT, Throttle
from notif_core import quarantine
from notif_core.backoff import RetryPolicy
from notif_core.events import (
    AttemptFailedPayload,
    CancelledPayload,
    Event,
    ExpiredPayload,
    FailedPayload,
    NotificationAccepted,
    NotificationAttemptFailed,
    NotificationCancelled,
    NotificationExpired,
    NotificationFailed,
    NotificationSent,
    NotificationSuppressed,
    SentPayload,
    SuppressedPayload,
    parse_event,
    utcnow,
)
from notif_core.identity import recipient_key
from notif_core.ids import derived_id
from notif_core.logging import get_logger
from notif_core.sqs import Delivery, Outcome, Publisher
from notif_core.vocabulary import ClaimState, NotificationStatus

log = get_logger(__name__)
PRODUCER = "dispatcher"
OutcomeEvent = TypeVar(
    "OutcomeEvent",
    NotificationAttemptFailed,
    NotificationCancelled,
    NotificationExpired,
    NotificationFailed,
    NotificationSuppressed,
)
PROJECTION_POLL = 0.05
"""While the ledger is behind on a recipient, how often the inline wait looks again."""


class DispatchHandler:
    def __init__(
        self,
        *,
        gate: Gate,
        api: CloudApi,
        publisher: Publisher,
        events_queue_url: str,
        default_phone_number_id: str,
        retry: RetryPolicy,
        throttle: Throttle,
        breaker: Breaker,
        recipients: RecipientPolicy,
        accepted: AcceptedWamids,
        takeover_grace: float,
        window_mode: WindowMode = "enforce",
        window_certain_after: float = 180.0,
        projection_wait: float = 120.0,
        quarantine: DispatchQuarantine,
        templates: TemplatePolicy | None = None,
        health: AccountHealth | None = None,
        limits: MessagingLimits | None = None,
    ) -> None:
        self._quarantine = quarantine
        self._templates = templates
        self._health = health
        self._limits = limits
        self._gate = gate
        self._api = api
        self._publisher = publisher
        self._events_url = events_queue_url
        self._default_sender = default_phone_number_id
        self._retry = retry
        self._throttle = throttle
        self._breaker = breaker
        self._recipients = recipients
        self._accepted = accepted
        self._takeover_grace = takeover_grace
        self._window_mode = window_mode
        self._window_certain_after = window_certain_after
        self._projection_wait = projection_wait

    async def __call__(self, delivery: Delivery) -> Outcome:
        """What can never be dispatched is set aside (``quarantine.py``), and a command that
        keeps failing for a reason other than an outage too, on its last receive before the
        DLQ: either way its notification ends ``failed`` and the messages behind it flow."""
        try:
            event = parse_event(delivery.body)
        except ValidationError as exc:
            reason, why = quarantine.parse_failure(exc)
            return await self._quarantine.set_aside(delivery, reason, why)
        if not isinstance(event, NotificationAccepted):
            why = f"{event.type} is not a dispatch command"
            return await self._quarantine.set_aside(delivery, "unexpected_type", why, settle=False)
        if event.notification_id is None:
            return await self._quarantine.set_aside(
                delivery, "invalid_event", "notification_id missing"
            )
        structlog.contextvars.bind_contextvars(notification_id=str(event.notification_id))
        try:
            return await self._dispatch(event)
        except Exception as exc:
            if quarantine.is_outage(exc) or delivery.receive_count < quarantine.LAST_RECEIVE:
                raise  # retried with backoff by the consumer
            log.exception("dispatch_failed_for_good", receive_count=delivery.receive_count)
            return await self._quarantine.set_aside(
                delivery, "handler_error", quarantine.detail(exc)
            )
        finally:
            structlog.contextvars.unbind_contextvars("notification_id")

    async def _dispatch(self, command: NotificationAccepted) -> Outcome:
        expire = decisions.on_arrival(command, utcnow())
        if expire is not None and await self._end_unclaimed(command, expire):
            return Outcome.ack()
        # Not expired, or someone decided its fate already: the claim below finds out how.
        sender = command.payload.phone_number_id or self._default_sender
        facts = await self._settled_facts(command, sender)
        verdict = decisions.on_recipient(
            command,
            facts,
            utcnow(),
            self._window_mode,
            self._window_certain_after,
        )
        if isinstance(verdict, Suppress | CloseWindow):
            await self._end_unclaimed(command, verdict)
            return Outcome.ack()
        if isinstance(verdict, Wait):
            return self._wait(verdict)
        if isinstance(verdict, LeaveToMeta):
            log.info("window_not_seen_meta_decides", accepted_for=round(verdict.accepted_for, 3))
        if self._templates is not None:
            policy = self._templates
            stopped = decisions.on_template(
                command,
                await policy.status(sender, command.payload.message),
                utcnow(),
                policy.mode,
                policy.hold_seconds,
                policy.max_hold_seconds,
            )
            if isinstance(stopped, Wait):
                return self._wait(stopped)
            if isinstance(stopped, StoppedTemplate):
                await self._end_unclaimed(command, stopped)
                return Outcome.ack()

        breaker = await self._breaker.state(sender)
        probe_won = breaker is not None and await self._breaker.may_probe(sender, breaker)
        held = decisions.on_breaker(breaker, probe_won, time.time())
        if held is not None:
            return self._wait(held)
        over_limit = decisions.on_messaging_limit(await self._place(command, sender, facts))
        if over_limit is not None:
            MESSAGING_LIMIT_HOLDS.labels(category=command.payload.category or "unknown").inc()
            log.info("messaging_limit_hold", retry_in=round(over_limit.seconds, 1))
            return self._wait(over_limit)
        nid = command.require_notification_id()
        paced = decisions.on_admission(
            await self._throttle.admit(sender, command.payload.to, str(nid))
        )
        if isinstance(paced, Wait):
            return self._wait(paced)
        await asyncio.sleep(paced.sleep)

        claimed = decisions.on_claim(await self._gate.claim(nid))
        if isinstance(claimed, LookForStatuses):
            taken = decisions.on_takeover(
                await self._accepted.of(nid),
                claimed.unconfirmed_for,
                self._takeover_grace,
                claimed.attempt,
            )
            if not isinstance(taken, Resend):
                return await self._after_unconfirmed(command, sender, taken)
            TAKEOVERS.labels(outcome="resent").inc()
            log.warning("no_status_within_grace", unconfirmed_for=round(claimed.unconfirmed_for, 1))
            claimed = Send(taken.attempt)
        if isinstance(claimed, Send):
            return await self._send(command, sender, claimed.attempt, probing=breaker is not None)
        return await self._not_ours(command, sender, claimed)

    async def _place(
        self, command: NotificationAccepted, sender: str, facts: RecipientFacts | None
    ) -> Place | None:
        """The recipient's place among the users the sender's portfolio may reach, for a
        business-initiated send under a messaging limit Meta reported; None: no limit."""
        if self._limits is None or self._health is None:
            return None
        limit = self._health.messaging_limit(sender)
        if limit is None or not decisions.business_initiated(command, facts, utcnow()):
            return None
        portfolio, users = limit
        marketing = command.payload.category == "marketing"
        return await self._limits.take(
            portfolio, recipient_key(command.payload.to), users, marketing
        )

    async def _settled_facts(
        self, command: NotificationAccepted, sender: str
    ) -> RecipientFacts | None:
        """The recipient's facts once the ledger has projected every inbound ingest has
        acknowledged from them (``decisions.on_projection``). Waits inline up to
        ``INLINE_WAIT``; None: not yet, look again shortly."""
        key = recipient_key(command.payload.to)
        marketing = command.payload.category == "marketing"
        deadline = time.monotonic() + INLINE_WAIT
        while True:
            facts = await self._recipients.facts(sender, key, marketing)
            projection = decisions.on_projection(facts, self._projection_wait)
            if projection is Projection.SETTLED:
                return facts
            age = round(facts.behind_for() or 0.0, 1)
            if projection is Projection.PAST_BOUND:
                log.warning("ledger_behind_past_bound", mark_age=age)
                return facts
            if time.monotonic() >= deadline:
                log.info("waiting_for_projection", mark_age=age)
                return None
            await asyncio.sleep(PROJECTION_POLL)

    @staticmethod
    def _wait(verdict: Wait) -> Outcome:
        if verdict.limit == "breaker":
            BREAKER_WAITS.inc()
        elif verdict.limit == "template":
            TEMPLATE_HOLDS.inc()
        elif verdict.limit not in ("projection", "messaging_limit"):
            PACING_WAITS.labels(limit=verdict.limit).inc()
        return Outcome.requeue(verdict.seconds)

    async def _end_unclaimed(
        self,
        command: NotificationAccepted,
        verdict: Expire | Suppress | CloseWindow | StoppedTemplate,
    ) -> bool:
        """End it before any claim: one gate transition, and its event when the transition
        won. False: someone decided its fate already (and reported it)."""
        nid = command.require_notification_id()
        if isinstance(verdict, Expire):
            if not await self._gate.finish_unclaimed(nid, ClaimState.EXPIRED):
                return False
            payload = ExpiredPayload(expires_at=verdict.expires_at)
            await self._emit(_about(command, NotificationExpired, payload))
            log.info("expired")
            return True
        if not await self._gate.finish_unclaimed(nid, ClaimState.FAILED):
            return False
        if isinstance(verdict, Suppress):
            payload_s = SuppressedPayload(reason=verdict.reason)
            await self._emit(_about(command, NotificationSuppressed, payload_s))
            log.info("suppressed")
        else:
            payload_f = FailedPayload(error=verdict.error, attempts=0)
            await self._emit(_about(command, NotificationFailed, payload_f))
            log.info(
                "template_stopped" if isinstance(verdict, StoppedTemplate) else "window_closed"
            )
        return True

    async def _not_ours(
        self,
        command: NotificationAccepted,
        sender: str,
        verdict: ReportSent | ReportCancelled | ComeBack | Settled,
    ) -> Outcome:
        """Someone decided this notification's fate already: report it, do not send."""
        if isinstance(verdict, ReportSent):
            await self._emit(_sent(command, verdict.wamid, sender, None))
        elif isinstance(verdict, ReportCancelled):
            await self._emit(
                _about(command, NotificationCancelled, CancelledPayload(reason="client"))
            )
            log.info("skipped_cancelled")
        elif isinstance(verdict, ComeBack):
            log.info("claimed_elsewhere", lease_left=verdict.lease_left)
            return Outcome.retry(verdict.seconds)
        return Outcome.ack()

    async def _after_unconfirmed(
        self, command: NotificationAccepted, sender: str, verdict: ReportSent | HoldClaim
    ) -> Outcome:
        """An earlier attempt may have reached Meta unrecorded, and Meta's statuses showed it
        did, or may still show it within the grace."""
        nid = command.require_notification_id()
        if isinstance(verdict, ReportSent):
            await self._gate.sent(nid, verdict.wamid)
            await self._throttle.release_pair(str(nid))
            await self._emit(_sent(command, verdict.wamid, sender, None))
            TAKEOVERS.labels(outcome="found").inc()
            log.info("sent_by_earlier_attempt", wamid=verdict.wamid)
            return Outcome.ack()
        if not await self._gate.wait_for_statuses(nid, verdict.seconds):
            return Outcome.retry(1)  # its first holder settled it after all: read that
        TAKEOVERS.labels(outcome="waiting").inc()
        log.info("waiting_for_statuses", wait=round(verdict.seconds, 1))
        return Outcome.requeue(verdict.seconds + 1)  # the claim's lease has lapsed by then

    async def _send(
        self, command: NotificationAccepted, sender: str, attempt: int, *, probing: bool
    ) -> Outcome:
        nid = command.require_notification_id()
        to = command.payload.to
        body = CloudApi.message_body(to, command.payload.message, str(nid))
        await asyncio.sleep(self._throttle.spacing(sender))
        started = time.perf_counter()
        result = await self._api.send(sender, body)
        answered = time.time()
        SEND_SECONDS.observe(time.perf_counter() - started)
        now = utcnow()
        policy = self._templates
        verdict = decisions.on_result(
            result,
            attempt=attempt,
            probing=probing,
            retry=self._retry,
            expires_at=command.payload.expires_at,
            now=now,
            paused_hold=policy.hold_seconds
            if policy is not None
            and policy.mode == "hold"
            and decisions.within_hold(command, now, policy.max_hold_seconds)
            else None,
        )
        if isinstance(verdict, Sent):
            # Nothing that can fail may come between Meta's 200 and this commit: a crash
            # there is a send the next attempt cannot see (only Meta's statuses can tell).
            await self._gate.sent(nid, verdict.wamid)
            await self._throttle.pair_sent(sender, to, answered, release=str(nid))
            if verdict.close_breaker:
                await self._breaker.close(sender)
                BREAKER_OPEN.labels(sender=sender).set(0)
                log.info("breaker_closed", sender=sender)
            await self._emit(_sent(command, verdict.wamid, sender, verdict.answer))
            SENDS.labels(result="sent").inc()
            log.info("sent", wamid=verdict.wamid, to=to)
            return Outcome.ack()

        failed_for_good = isinstance(verdict, Fail)
        await self._throttle.pair_sent(
            sender, to, answered, release=str(nid) if failed_for_good else None
        )
        code = decisions.error_of(result).code
        META_ERRORS.labels(code=str(code)).inc()
        if isinstance(verdict, OpenBreaker):
            state = await self._breaker.open(sender, verdict.code)
            BREAKER_OPEN.labels(sender=sender).set(1)
            await self._gate.release(nid, refund_attempt=True)
            log.warning("breaker_open", sender=sender, code=code, probe_in=state.interval)
            SENDS.labels(result="requeued").inc()
            return Outcome.requeue(state.interval)
        if isinstance(verdict, HoldPaused):
            await self._gate.release(nid, refund_attempt=True)
            TEMPLATE_HOLDS.inc()
            log.info("template_paused_by_meta", retry_in=verdict.seconds)
            SENDS.labels(result="requeued").inc()
            return Outcome.requeue(verdict.seconds)
        if isinstance(verdict, WaitForPair):
            wait = await self._throttle.pair_limited(sender, to, str(nid))
            await self._gate.release(nid)
            log.info("pair_limited", retry_in=wait)
            SENDS.labels(result="requeued").inc()
            return Outcome.requeue(wait)
        if verdict.throttle:
            rate = await self._throttle.throttled(sender)
            log.info("sender_throttled", sender=sender, rate=rate)
        if isinstance(verdict, Retry):
            return await self._retry_later(command, verdict)
        await self._gate.fail(nid)
        payload = FailedPayload(error=verdict.error, attempts=verdict.attempts)
        await self._emit(_about(command, NotificationFailed, payload))
        SENDS.labels(result="failed").inc()
        log.info("failed", code=verdict.error.code, attempt=verdict.attempts)
        return Outcome.ack()

    async def _retry_later(self, command: NotificationAccepted, verdict: Retry) -> Outcome:
        nid = command.require_notification_id()
        await self._gate.release(nid, unconfirmed=verdict.unconfirmed)
        payload = AttemptFailedPayload(
            error=verdict.error, attempt=verdict.attempt, next_attempt_at=verdict.next_attempt_at
        )
        await self._emit(_about(command, NotificationAttemptFailed, payload, verdict.attempt))
        code = verdict.error.code
        log.info("attempt_failed", code=code, attempt=verdict.attempt, retry_in=verdict.delay)
        SENDS.labels(result="retry").inc()
        RETRIES.labels(code=str(code)).inc()
        return Outcome.retry(verdict.delay)

    async def _emit(self, event: Event) -> None:
        await self._publisher.publish_one(self._events_url, event)


_KEYS: dict[type[object], NotificationStatus] = {
    NotificationCancelled: NotificationStatus.CANCELLED,
    NotificationExpired: NotificationStatus.EXPIRED,
    NotificationFailed: NotificationStatus.FAILED,
    NotificationSuppressed: NotificationStatus.SUPPRESSED,
}


def _about(
    command: NotificationAccepted,
    model: type[OutcomeEvent],
    payload: object,
    attempt: int | None = None,
) -> OutcomeEvent:
    """An outcome event of this notification, with an id derived from its status (or its
    attempt) so a redelivered message re-emits the same event (stored once by the ledger)."""
    key = f"attempt:{attempt}" if attempt is not None else _KEYS[model]
    return model(
        event_id=derived_id(str(command.require_notification_id()), key),
        producer=PRODUCER,
        tenant_id=command.tenant_id,
        notification_id=command.notification_id,
        payload=payload,
    )


def _sent(
    command: NotificationAccepted, wamid: str, sender: str, answer: SendResult | None
) -> NotificationSent:
    """``answer``: Meta's reply, whose ``contacts`` say who the recipient is (None when the
    send was learnt of another way)."""
    # Same id as the ``sent`` status webhook derives, so the ledger keeps one of the two.
    return NotificationSent(
        event_id=derived_id(wamid, NotificationStatus.SENT),
        producer=PRODUCER,
        tenant_id=command.tenant_id,
        notification_id=command.notification_id,
        payload=SentPayload(
            wamid=wamid,
            phone_number_id=sender,
            wa_id=answer.wa_id if answer else None,
            user_id=answer.user_id if answer else None,
        ),
    )
