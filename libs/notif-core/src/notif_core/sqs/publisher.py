"""Publishing events to a queue in batches of ten, with trace context as an attribute."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from notif_core.events import Event, dump_event
from notif_core.sqs._sqs import (
    EVENT_TYPE_ATTRIBUTE,
    MAX_BATCH,
    MAX_DELAY_SECONDS,
    TRACEPARENT_ATTRIBUTE,
)
from notif_core.sqs.batching import Batcher
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
    SendMessageBatch calls, and each caller learns its own event's fate.
    """

    def __init__(self, client: SQSClient) -> None:
        self._client = client
        self._batcher: Batcher[Event] = Batcher(self._send_batch)

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
        """Send serialised events as they are, in chunks of ten."""
        delay = max(0, min(delay_seconds, MAX_DELAY_SECONDS))
        for start in range(0, len(messages), MAX_BATCH):
            chunk = messages[start : start + MAX_BATCH]
            entries: list[SendMessageBatchRequestEntryTypeDef] = []
            for index, message in enumerate(chunk):
                attributes: dict[str, object] = {
                    EVENT_TYPE_ATTRIBUTE: {"DataType": "String", "StringValue": message.type}
                }
                if message.traceparent:
                    attributes[TRACEPARENT_ATTRIBUTE] = {
                        "DataType": "String",
                        "StringValue": message.traceparent,
                    }
                entries.append(
                    {
                        "Id": str(index),
                        "MessageBody": message.body,
                        "DelaySeconds": delay,
                        "MessageAttributes": attributes,  # type: ignore[typeddict-item]
                    }
                )
            response = await self._client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            failed = response.get("Failed", [])
            if failed:
                ids = [str(chunk[int(f["Id"])].event_id) for f in failed]
                raise PublishError(ids, failed[0].get("Message", failed[0]["Code"]))
