"""Handling one dispatch message: decide, send at most once, report the outcome as an event.

The SQS message is deleted only after its outcome event is published. Before calling Meta
the dispatcher claims the notification at the gate (``gate.py``): a cancelled, expired or
already-sent notification is never sent, and two replicas never send the same one.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Literal, TypeVar

import structlog
from pydantic import ValidationError

from dispatcher.cloud_api import CloudApi, SendResult
from dispatcher.gate import Claim, Gate
from dispatcher.meta_errors import MAX_ATTEMPTS_EXCEEDED, is_retryable
from dispatcher.metrics import (
    BREAKER_OPEN,
    BREAKER_WAITS,
    META_ERRORS,
    PACING_WAITS,
    RETRIES,
    SEND_SECONDS,
    SENDS,
    TAKEOVERS,
)
from dispatcher.pacing import BREAKER_CODES, INLINE_WAIT, Pacer
from dispatcher.quarantine import DispatchQuarantine
from dispatcher.recipients import RecipientFacts, RecipientPolicy
from dispatcher.takeover import Takeover
from notif_core import quarantine
from notif_core.backoff import RetryPolicy
from notif_core.events import (
    AttemptFailedPayload,
    CancelledPayload,
    Event,
    ExpiredPayload,
    FailedPayload,
    MetaError,
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
WindowMode = Literal["enforce", "pass_through"]
PROJECTION_POLL = 0.05
"""While the ledger is behind on a recipient, how often the inline wait looks again."""
PROJECTION_RECHECK = 1.0
"""After the inline wait, the command comes back this much later (a requeue: no receive)."""


def _category(event: NotificationAccepted) -> str | None:
    """The template category the client declared; the Cloud API message never carries it."""
    return event.payload.category


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
        pacer: Pacer,
        recipients: RecipientPolicy,
        takeover: Takeover,
        window_mode: WindowMode = "enforce",
        window_certain_after: float = 180.0,
        projection_wait: float = 120.0,
        quarantine: DispatchQuarantine,
    ) -> None:
        self._quarantine = quarantine
        self._gate = gate
        self._api = api
        self._publisher = publisher
        self._events_url = events_queue_url
        self._default_sender = default_phone_number_id
        self._retry = retry
        self._pacer = pacer
        self._recipients = recipients
        self._takeover = takeover
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

    async def _dispatch(self, event: NotificationAccepted) -> Outcome:
        nid = event.notification_id
        assert nid is not None
        expires = event.payload.expires_at
        expired = expires is not None and utcnow() >= expires
        if expired and await self._gate.finish_unclaimed(nid, "expired"):
            assert expires is not None
            await self._emit(
                self._about(
                    event, NotificationExpired, "expired", ExpiredPayload(expires_at=expires)
                )
            )
            log.info("expired")
            return Outcome.ack()
        sender = event.payload.phone_number_id or self._default_sender
        verdict = await self._policy_verdict(event, sender)
        if verdict is not None:
            return verdict
        breaker = await self._pacer.breaker(sender)
        probing = False
        if breaker is not None:
            if not await self._pacer.may_probe(sender, breaker):
                BREAKER_WAITS.inc()
                return Outcome.requeue(max(1.0, breaker.next_probe_at - time.time()))
            probing = True
        wait = await self._pacer.pair_slot(sender, event.payload.to, str(nid))
        if wait > INLINE_WAIT:
            PACING_WAITS.labels(limit="pair").inc()
            return Outcome.requeue(wait)
        slot = await self._pacer.sender_slot(sender)
        if slot is None:
            PACING_WAITS.labels(limit="sender").inc()
            return Outcome.requeue(INLINE_WAIT)
        await asyncio.sleep(max(wait, slot))
        claim = await self._gate.claim(nid)
        if not claim.won:
            return await self._not_ours(event, claim)
        if claim.unconfirmed_for is not None:
            verdict = await self._after_unconfirmed(event, sender, claim.unconfirmed_for)
            if verdict is not None:
                return verdict
        return await self._send(event, sender, claim.attempts, probing)

    async def _after_unconfirmed(
        self, event: NotificationAccepted, sender: str, unconfirmed_for: float
    ) -> Outcome | None:
        """An earlier attempt may have reached Meta unrecorded: Meta's statuses decide
        whether it did (``takeover.py``). None: send again."""
        nid = event.notification_id
        assert nid is not None
        verdict = await self._takeover.verdict(nid, unconfirmed_for)
        if verdict.wamid is not None:
            await self._gate.sent(nid, verdict.wamid)
            await self._pacer.release_pair(str(nid))
            await self._emit(self._sent(event, verdict.wamid, sender, None))
            TAKEOVERS.labels(outcome="found").inc()
            log.info("sent_by_earlier_attempt", wamid=verdict.wamid)
            return Outcome.ack()
        if verdict.wait > 0:
            if not await self._gate.wait_for_statuses(nid, verdict.wait):
                return Outcome.retry(1)  # its first holder settled it after all: read that
            TAKEOVERS.labels(outcome="waiting").inc()
            log.info("waiting_for_statuses", wait=round(verdict.wait, 1))
            return Outcome.requeue(verdict.wait + 1)  # the claim's lease has lapsed by then
        TAKEOVERS.labels(outcome="resent").inc()
        log.warning("no_status_within_grace", unconfirmed_for=round(unconfirmed_for, 1))
        return None

    async def _policy_verdict(self, event: NotificationAccepted, sender: str) -> Outcome | None:
        """Suppressed recipients end here, and free-form text to a closed 24h window when
        that is certain, without calling Meta.

        The ledger's read models lag Meta's webhooks, so neither check trusts them alone
        (``recipients.py``). An opt-out is ours alone to honour: while ingest has
        acknowledged an inbound the ledger has not projected, the send waits for it. A
        window is open if the ledger or ingest's mark saw an inbound within 24 h; when
        neither did, the send fails early only once the command is older than
        ``window_certain_after`` (its user's webhook cannot still be on its way), else Meta
        decides (its own 131047 is terminal too)."""
        nid = event.notification_id
        assert nid is not None
        marketing = _category(event) == "marketing"
        facts = await self._settled_facts(sender, recipient_key(event.payload.to), marketing)
        if facts is None:
            return Outcome.requeue(PROJECTION_RECHECK)
        if facts.suppressed:
            if await self._gate.finish_unclaimed(nid, "failed"):
                await self._emit(
                    self._about(
                        event,
                        NotificationSuppressed,
                        "suppressed",
                        SuppressedPayload(reason="recipient opted out"),
                    )
                )
                log.info("suppressed")
            return Outcome.ack()
        free_form = event.payload.message.get("type") != "template"
        now = utcnow()
        if not free_form or self._window_mode != "enforce" or facts.window_open(now):
            return None
        accepted_for = (now - event.occurred_at).total_seconds()
        if accepted_for < self._window_certain_after:
            log.info("window_not_seen_meta_decides", accepted_for=round(accepted_for, 3))
            return None
        if await self._gate.finish_unclaimed(nid, "failed"):
            await self._emit(
                self._about(
                    event,
                    NotificationFailed,
                    "failed",
                    FailedPayload(
                        error=MetaError(
                            code=131047,
                            title="Re-engagement message",
                            details="No message from the recipient in the last 24 hours; "
                            "send a template instead (checked before calling Meta).",
                        ),
                        attempts=0,
                    ),
                )
            )
            log.info("window_closed")
        return Outcome.ack()

    async def _settled_facts(self, sender: str, key: str, marketing: bool) -> RecipientFacts | None:
        """The recipient's facts once the ledger has projected every inbound ingest has
        acknowledged from them (a STOP, or a START lifting one, may be among them). Waits
        inline up to ``INLINE_WAIT``; None: not yet, look again shortly. Only recipients
        with an inbound in flight wait. Past ``projection_wait`` from the mark, the ledger
        is taken as it is (an inbound it could not project must not hold sends forever)."""
        deadline = time.monotonic() + INLINE_WAIT
        while True:
            facts = await self._recipients.facts(sender, key, marketing)
            if not facts.ledger_behind():
                return facts
            age = facts.mark_age_seconds or 0.0
            if age >= self._projection_wait:
                log.warning("ledger_behind_past_bound", mark_age=round(age, 1))
                return facts
            if time.monotonic() >= deadline:
                log.info("waiting_for_projection", mark_age=round(age, 1))
                return None
            await asyncio.sleep(PROJECTION_POLL)

    async def _not_ours(self, event: NotificationAccepted, claim: Claim) -> Outcome:
        """Someone decided this notification's fate already: report it, do not send."""
        nid = event.notification_id
        assert nid is not None
        if claim.state == "sent" and claim.wamid is not None:
            sender = event.payload.phone_number_id or self._default_sender
            await self._emit(self._sent(event, claim.wamid, sender, None))
            return Outcome.ack()
        if claim.state == "cancelled":
            await self._emit(
                self._about(
                    event, NotificationCancelled, "cancelled", CancelledPayload(reason="client")
                )
            )
            log.info("skipped_cancelled")
            return Outcome.ack()
        if claim.state == "claimed":
            log.info("claimed_elsewhere", lease_left=claim.lease_seconds_left)
            return Outcome.retry(claim.lease_seconds_left + 1)
        return Outcome.ack()  # failed or expired: already reported by whoever settled it

    async def _send(
        self, event: NotificationAccepted, sender: str, attempt: int, probing: bool
    ) -> Outcome:
        nid = event.notification_id
        assert nid is not None
        body = CloudApi.message_body(event.payload.to, event.payload.message, str(nid))
        started = time.perf_counter()
        result = await self._api.send(sender, body)
        answered = time.time()
        SEND_SECONDS.observe(time.perf_counter() - started)
        if result.wamid is not None:
            # Nothing that can fail may come between Meta's 200 and this commit: a crash
            # there is a send the next attempt cannot see (only Meta's statuses can tell).
            await self._gate.sent(nid, result.wamid)
            await self._pacer.pair_sent(sender, event.payload.to, answered)
            await self._pacer.release_pair(str(nid))
            if probing:
                await self._pacer.close_breaker(sender)
                BREAKER_OPEN.labels(sender=sender).set(0)
                log.info("breaker_closed", sender=sender)
            await self._emit(self._sent(event, result.wamid, sender, result))
            SENDS.labels(result="sent").inc()
            log.info("sent", wamid=result.wamid, to=event.payload.to)
            return Outcome.ack()

        await self._pacer.pair_sent(sender, event.payload.to, answered)
        error = result.error or MetaError(code="unknown")
        META_ERRORS.labels(code=str(error.code)).inc()
        if error.code in BREAKER_CODES:
            state = await self._pacer.open_breaker(sender, int(error.code))
            BREAKER_OPEN.labels(sender=sender).set(1)
            await self._gate.release(nid, refund_attempt=True)
            log.warning("breaker_open", sender=sender, code=error.code, probe_in=state.interval)
            SENDS.labels(result="requeued").inc()
            return Outcome.requeue(state.interval)
        if error.code == 130429:
            rate = await self._pacer.throttled(sender)
            log.info("sender_throttled", sender=sender, rate=rate)
        if error.code == 131056:
            wait = await self._pacer.pair_limited(sender, event.payload.to, str(nid))
            await self._gate.release(nid)
            log.info("pair_limited", retry_in=wait)
            SENDS.labels(result="requeued").inc()
            return Outcome.requeue(wait)
        if is_retryable(error.code) and attempt < self._retry.max_attempts:
            delay = self._retry.delay(attempt)
            next_at = utcnow() + timedelta(seconds=delay)
            expires = event.payload.expires_at
            if expires is None or next_at < expires:
                await self._gate.release(nid, unconfirmed=result.unconfirmed)
                await self._emit(
                    self._about(
                        event,
                        NotificationAttemptFailed,
                        f"attempt:{attempt}",
                        AttemptFailedPayload(error=error, attempt=attempt, next_attempt_at=next_at),
                    )
                )
                log.info("attempt_failed", code=error.code, attempt=attempt, retry_in=delay)
                SENDS.labels(result="retry").inc()
                RETRIES.labels(code=str(error.code)).inc()
                return Outcome.retry(delay)
        if is_retryable(error.code):
            error = MetaError(
                code=MAX_ATTEMPTS_EXCEEDED,
                title="Gave up after retryable errors",
                details=f"last error {error.code}: {error.title or ''}".strip(),
            )
        await self._gate.fail(nid)
        await self._pacer.release_pair(str(nid))
        await self._emit(
            self._about(
                event, NotificationFailed, "failed", FailedPayload(error=error, attempts=attempt)
            )
        )
        SENDS.labels(result="failed").inc()
        log.info("failed", code=error.code, attempt=attempt)
        return Outcome.ack()

    @staticmethod
    def _about(
        event: NotificationAccepted, model: type[OutcomeEvent], key: str, payload: object
    ) -> OutcomeEvent:
        """An outcome event of this notification, with an id derived from ``key`` so a
        redelivered message re-emits the same event (stored once by the ledger)."""
        return model(
            event_id=derived_id(str(event.notification_id), key),
            producer=PRODUCER,
            tenant_id=event.tenant_id,
            notification_id=event.notification_id,
            payload=payload,
        )

    @staticmethod
    def _sent(
        event: NotificationAccepted, wamid: str, sender: str, answer: SendResult | None
    ) -> NotificationSent:
        """``answer``: Meta's reply, whose ``contacts`` say who the recipient is (None when
        the send was learnt of another way)."""
        # Same id as the ``sent`` status webhook derives, so the ledger keeps one of the two.
        return NotificationSent(
            event_id=derived_id(wamid, "sent"),
            producer=PRODUCER,
            tenant_id=event.tenant_id,
            notification_id=event.notification_id,
            payload=SentPayload(
                wamid=wamid,
                phone_number_id=sender,
                wa_id=answer.wa_id if answer else None,
                user_id=answer.user_id if answer else None,
            ),
        )

    async def _emit(self, event: Event) -> None:
        await self._publisher.publish_one(self._events_url, event)
