"""Publishing events to a queue in batches, with trace context as an attribute.

A SendMessageBatch carries at most ten entries *and* at most :data:`MAX_BATCH_BYTES`; over
the byte limit SQS refuses the whole call (``BatchRequestTooLong``), so batches are cut by
both (:func:`chunks`). SQS answers each entry on its own: :meth:`Publisher.send_each` reports
every message's fate, telling a refusal that will never pass (the sender's fault: too large,
characters SQS does not carry) from one worth retrying.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from notif_core.events import Event, dump_event
from notif_core.sqs.batching import Batcher
from notif_core.sqs.limits import (
    EVENT_TYPE_ATTRIBUTE,
    MAX_BATCH,
    MAX_BATCH_BYTES,
    MAX_DELAY_SECONDS,
    MAX_MESSAGE_BYTES,
    TRACEPARENT_ATTRIBUTE,
)
from notif_core.telemetry import current_traceparent

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import SendMessageBatchRequestEntryTypeDef


@dataclass(frozen=True)
class Outgoing:
    """One message as it goes on the wire: an event already serialised (the outbox stores
    events so, and its relay publishes them without parsing them again)."""

    event_id: str
    type: str
    body: str
    traceparent: str | None = None

    @classmethod
    def of(cls, event: Event) -> Outgoing:
        return cls(str(event.event_id), event.type, dump_event(event), event.traceparent)

    def attributes(self) -> dict[str, str]:
        """The message attributes, by name (all of type String)."""
        attributes = {EVENT_TYPE_ATTRIBUTE: self.type}
        if self.traceparent:
            attributes[TRACEPARENT_ATTRIBUTE] = self.traceparent
        return attributes

    @cached_property
    def size(self) -> int:
        """Bytes SQS counts against its limits: the body, and each attribute's name, data
        type and value."""
        attributes = sum(
            len(name) + len("String") + len(value.encode())
            for name, value in self.attributes().items()
        )
        return len(self.body.encode()) + attributes

    @property
    def fits(self) -> bool:
        return self.size <= MAX_MESSAGE_BYTES


@dataclass(frozen=True)
class Refusal:
    """Why SQS did not take one message; ``permanent`` when sending it again cannot help."""

    code: str
    message: str
    permanent: bool


_CONTENT_ERRORS = ("TooLong", "InvalidMessageContents", "InvalidParameterValue")
"""SQS error codes that blame what a call carried, not where it went."""


def chunks(messages: Sequence[Outgoing]) -> Iterator[list[Outgoing]]:
    """Consecutive runs of at most ten messages and :data:`MAX_BATCH_BYTES` each, in order.
    A message too large to send at all travels alone (SQS refuses it, entry by entry)."""
    chunk: list[Outgoing] = []
    size = 0
    for message in messages:
        bytes_ = message.size
        if chunk and (len(chunk) == MAX_BATCH or size + bytes_ > MAX_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(message)
        size += bytes_
    if chunk:
        yield chunk


class PublishError(RuntimeError):
    """Some entries of a batch were not accepted; their event ids are listed."""

    def __init__(self, failed_ids: list[str], reason: str) -> None:
        super().__init__(f"{len(failed_ids)} message(s) not published: {reason}")
        self.failed_ids = failed_ids


def with_trace(event: Event) -> Event:
    """The event, stamped with the active span's ``traceparent`` if it has none yet."""
    if event.traceparent is not None:
        return event
    traceparent = current_traceparent()
    return event if traceparent is None else event.model_copy(update={"traceparent": traceparent})


class Publisher:
    """Sends events to SQS; raises unless every event was accepted.

    ``publish_one`` is for handlers that emit one event each: concurrent calls share
    SendMessageBatch calls, and each caller learns its own event's fate. ``linger``: seconds
    a ``publish_one`` call may wait for others to share its call (:class:`Batcher`).
    """

    def __init__(self, client: SQSClient, *, linger: float = 0.0) -> None:
        self._client = client
        self._batcher: Batcher[Event] = Batcher(self._send_batch, linger)

    async def publish_one(self, queue_url: str, event: Event) -> None:
        """Batched with concurrent calls; carries the caller's trace context."""
        await self._batcher.submit(queue_url, with_trace(event))

    async def _send_batch(
        self, queue_url: str, events: Sequence[Event]
    ) -> list[BaseException | None]:
        try:
            # stamped by publish_one, in its caller
            await self.publish_serialized(queue_url, [Outgoing.of(e) for e in events])
        except PublishError as exc:
            failed = set(exc.failed_ids)
            return [exc if str(e.event_id) in failed else None for e in events]
        return [None] * len(events)

    async def publish(
        self, queue_url: str, events: Sequence[Event], *, delay_seconds: int = 0
    ) -> None:
        """Send now, in chunks of ten, stamped with the caller's trace context."""
        outgoing = [Outgoing.of(with_trace(e)) for e in events]
        await self.publish_serialized(queue_url, outgoing, delay_seconds=delay_seconds)

    async def publish_serialized(
        self, queue_url: str, messages: Sequence[Outgoing], *, delay_seconds: int = 0
    ) -> None:
        """Send serialised events as they are; raises :class:`PublishError` naming the
        messages SQS did not take (and whatever the call itself raised)."""
        refusals = await self.send_each(queue_url, messages, delay_seconds=delay_seconds)
        failed = [(m, r) for m, r in zip(messages, refusals, strict=True) if r is not None]
        if failed:
            raise PublishError([m.event_id for m, _ in failed], failed[0][1].message)

    async def send_each(
        self, queue_url: str, messages: Sequence[Outgoing], *, delay_seconds: int = 0
    ) -> list[Refusal | None]:
        """Send in :func:`chunks`, the calls concurrently; returns each message's refusal,
        or None when SQS took it. A message over :data:`MAX_MESSAGE_BYTES` is refused here,
        permanently, without a call. Errors of the call itself (SQS unreachable) raise."""
        delay = max(0, min(delay_seconds, MAX_DELAY_SECONDS))
        outcome: list[Refusal | None] = [None] * len(messages)
        sendable: list[int] = []
        for index, message in enumerate(messages):
            if message.fits:
                sendable.append(index)
            else:
                outcome[index] = Refusal(
                    "MessageTooLong", f"{message.size} bytes is over {MAX_MESSAGE_BYTES}", True
                )
        batches = list(chunks([messages[i] for i in sendable]))
        answers = await asyncio.gather(*(self._send_chunk(queue_url, b, delay) for b in batches))
        refusals = [refusal for answer in answers for refusal in answer]
        for index, refusal in zip(sendable, refusals, strict=True):
            outcome[index] = refusal
        return outcome

    async def _send_chunk(
        self, queue_url: str, chunk: list[Outgoing], delay: int
    ) -> list[Refusal | None]:
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {
                "Id": str(index),
                "MessageBody": message.body,
                "DelaySeconds": delay,
                "MessageAttributes": {
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in message.attributes().items()
                },
            }
            for index, message in enumerate(chunk)
        ]
        try:
            response = await self._client.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "ClientError")
            if not any(part in code for part in _CONTENT_ERRORS):
                raise  # the queue, the credentials or SQS itself: not the messages' fault
            # the call refused as a whole for what it carried (a batch too long): the
            # entries, each on its own, learn their own fate
            if len(chunk) == 1:
                return [Refusal(code, error.get("Message", code), True)]
            results: list[Refusal | None] = []
            for message in chunk:
                results += await self._send_chunk(queue_url, [message], delay)
            return results
        results = [None] * len(chunk)
        for failure in response.get("Failed", []):
            results[int(failure["Id"])] = Refusal(
                failure["Code"],
                failure.get("Message", failure["Code"]),
                bool(failure.get("SenderFault", False)),
            )
        return results
