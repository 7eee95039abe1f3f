"""Handling one dispatch message: send once, then report what happened as an event.

The SQS message is deleted only after its outcome event is published. A message that is
redelivered after Meta accepted it finds the recorded wamid and is not sent again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import structlog
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from dispatcher.cloud_api import CloudApi
from dispatcher.meta_errors import MAX_ATTEMPTS_EXCEEDED, is_retryable
from dispatcher.tables import sends
from notif_core.events import (
    AttemptFailedPayload,
    Event,
    FailedPayload,
    MetaError,
    NotificationAccepted,
    NotificationAttemptFailed,
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
        engine: AsyncEngine,
        api: CloudApi,
        publisher: Publisher,
        events_queue_url: str,
        default_phone_number_id: str,
        retry: RetryPolicy,
    ) -> None:
        self._engine = engine
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
            return await self._dispatch(event, delivery.receive_count)
        finally:
            structlog.contextvars.unbind_contextvars("notification_id")

    async def _dispatch(self, event: NotificationAccepted, attempt: int) -> Outcome:
        notification_id = event.notification_id
        assert notification_id is not None
        sender = event.payload.phone_number_id or self._default_sender
        recorded = await self._recorded_wamid(notification_id)
        if recorded is not None:
            log.info("already_sent", wamid=recorded)
            await self._emit(self._sent(event, recorded, sender, None))
            return Outcome.ack()

        body = CloudApi.message_body(event.payload.to, event.payload.message, str(notification_id))
        result = await self._api.send(sender, body)
        if result.wamid is not None:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(sends)
                    .values(notification_id=notification_id, wamid=result.wamid)
                    .on_conflict_do_nothing()
                )
            await self._emit(self._sent(event, result.wamid, sender, result.wa_id))
            log.info("sent", wamid=result.wamid, to=event.payload.to)
            return Outcome.ack()

        error = result.error or MetaError(code="unknown")
        if is_retryable(error.code) and attempt < self._retry.max_attempts:
            delay = self._retry.delay(attempt)
            next_at = utcnow() + timedelta(seconds=delay)
            expires = event.payload.expires_at
            if expires is None or next_at < expires:
                await self._emit(
                    NotificationAttemptFailed(
                        event_id=derived_id(str(notification_id), "attempt", str(attempt)),
                        producer=PRODUCER,
                        tenant_id=event.tenant_id,
                        notification_id=notification_id,
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
        await self._emit(
            NotificationFailed(
                event_id=derived_id(str(notification_id), "failed"),
                producer=PRODUCER,
                tenant_id=event.tenant_id,
                notification_id=notification_id,
                payload=FailedPayload(error=error, attempts=attempt),
            )
        )
        log.info("failed", code=error.code, attempt=attempt)
        return Outcome.ack()

    async def _recorded_wamid(self, notification_id: UUID) -> str | None:
        async with self._engine.connect() as conn:
            wamid = (
                await conn.execute(
                    select(sends.c.wamid).where(sends.c.notification_id == notification_id)
                )
            ).scalar_one_or_none()
        return wamid

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
