"""Handling one dispatch message: decide, send at most once, report the outcome as an event.

The SQS message is deleted only after its outcome event is published. Before calling Meta
the dispatcher claims the notification at the gate (``gate.py``): a cancelled, expired or
already-sent notification is never sent, and two replicas never send the same one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

import structlog
from pydantic import ValidationError

from dispatcher.cloud_api import CloudApi
from dispatcher.gate import Claim, Gate
from dispatcher.meta_errors import MAX_ATTEMPTS_EXCEEDED, is_retryable
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
    SentPayload,
    parse_event,
    utcnow,
)
from notif_core.ids import derived_id
from notif_core.logging import get_logger
from notif_core.sqs import Delivery, Outcome, Publisher

log = get_logger(__name__)
PRODUCER = "dispatcher"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**(attempt-1)))."""

    base_seconds: float
    cap_seconds: float
    max_attempts: int

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        return (rng or random).uniform(0, ceiling)


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
    ) -> None:
        self._gate = gate
        self._api = api
        self._publisher = publisher
        self._events_url = events_queue_url
        self._default_sender = default_phone_number_id
        self._retry = retry

    async def __call__(self, delivery: Delivery) -> Outcome:
        try:
            event = parse_event(delivery.body)
        except ValidationError:
            log.error("unparseable_dispatch_message", message_id=delivery.message_id)
            return Outcome(delete=False)  # redrive parks it in the DLQ
        if not isinstance(event, NotificationAccepted) or event.notification_id is None:
            log.warning("unexpected_dispatch_message", type=event.type)
            return Outcome.ack()
        structlog.contextvars.bind_contextvars(notification_id=str(event.notification_id))
        try:
            return await self._dispatch(event)
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
                NotificationExpired(
                    event_id=derived_id(str(nid), "expired"),
                    producer=PRODUCER,
                    tenant_id=event.tenant_id,
                    notification_id=nid,
                    payload=ExpiredPayload(expires_at=expires),
                )
            )
            log.info("expired")
            return Outcome.ack()
        claim = await self._gate.claim(nid)
        if not claim.won:
            return await self._not_ours(event, claim)
        return await self._send(event, claim.attempts)

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
                NotificationCancelled(
                    event_id=derived_id(str(nid), "cancelled"),
                    producer=PRODUCER,
                    tenant_id=event.tenant_id,
                    notification_id=nid,
                    payload=CancelledPayload(reason="client"),
                )
            )
            log.info("skipped_cancelled")
            return Outcome.ack()
        if claim.state == "claimed":
            log.info("claimed_elsewhere", lease_left=claim.lease_seconds_left)
            return Outcome.retry(claim.lease_seconds_left + 1)
        return Outcome.ack()  # failed or expired: already reported by whoever settled it

    async def _send(self, event: NotificationAccepted, attempt: int) -> Outcome:
        nid = event.notification_id
        assert nid is not None
        sender = event.payload.phone_number_id or self._default_sender
        body = CloudApi.message_body(event.payload.to, event.payload.message, str(nid))
        result = await self._api.send(sender, body)
        if result.wamid is not None:
            await self._gate.sent(nid, result.wamid)
            await self._emit(self._sent(event, result.wamid, sender, result.wa_id))
            log.info("sent", wamid=result.wamid, to=event.payload.to)
            return Outcome.ack()

        error = result.error or MetaError(code="unknown")
        if is_retryable(error.code) and attempt < self._retry.max_attempts:
            delay = self._retry.delay(attempt)
            next_at = utcnow() + timedelta(seconds=delay)
            expires = event.payload.expires_at
            if expires is None or next_at < expires:
                await self._gate.release(nid)
                await self._emit(
                    NotificationAttemptFailed(
                        event_id=derived_id(str(nid), "attempt", str(attempt)),
                        producer=PRODUCER,
                        tenant_id=event.tenant_id,
                        notification_id=nid,
                        payload=AttemptFailedPayload(
                            error=error, attempt=attempt, next_attempt_at=next_at
                        ),
                    )
                )
                log.info("attempt_failed", code=error.code, attempt=attempt, retry_in=delay)
                return Outcome.retry(delay)
        if is_retryable(error.code):
            error = MetaError(
                code=MAX_ATTEMPTS_EXCEEDED,
                title="Gave up after retryable errors",
                details=f"last error {error.code}: {error.title or ''}".strip(),
            )
        await self._gate.fail(nid)
        await self._emit(
            NotificationFailed(
                event_id=derived_id(str(nid), "failed"),
                producer=PRODUCER,
                tenant_id=event.tenant_id,
                notification_id=nid,
                payload=FailedPayload(error=error, attempts=attempt),
            )
        )
        log.info("failed", code=error.code, attempt=attempt)
        return Outcome.ack()

    @staticmethod
    def _sent(
        event: NotificationAccepted, wamid: str, sender: str, wa_id: str | None
    ) -> NotificationSent:
        # Same id as the ``sent`` status webhook derives, so the ledger keeps one of the two.
        return NotificationSent(
            event_id=derived_id(wamid, "sent"),
            producer=PRODUCER,
            tenant_id=event.tenant_id,
            notification_id=event.notification_id,
            payload=SentPayload(wamid=wamid, phone_number_id=sender, wa_id=wa_id),
        )

    async def _emit(self, event: Event) -> None:
        await self._publisher.publish(self._events_url, [event])
