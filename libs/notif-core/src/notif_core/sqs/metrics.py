"""Queue depth, in-flight and oldest-message age for every queue a service consumes,
DLQs included, sampled with GetQueueAttributes every ``QUEUE_METRICS_INTERVAL`` seconds.

SQS reports no age through GetQueueAttributes (CloudWatch's ApproximateAgeOfOldestMessage
is the only source on AWS). Here the age of a work queue is that of the oldest message in
the consumer's latest receive, and a DLQ's that of the oldest message of a peek (visibility
0, which only a DLQ can afford: on a work queue a peek counts as a receive).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import Gauge

from notif_core.logging import get_logger

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

log = get_logger(__name__)

SENT_TIMESTAMP_ATTRIBUTE: Final = "SentTimestamp"
_STATES: Final = {
    "visible": "ApproximateNumberOfMessages",
    "in_flight": "ApproximateNumberOfMessagesNotVisible",
    "delayed": "ApproximateNumberOfMessagesDelayed",
}

QUEUE_MESSAGES = Gauge(
    "notif_queue_messages",
    "Messages per SQS queue (DLQs included), by state: visible, in_flight, delayed.",
    ["queue", "state"],
)
QUEUE_OLDEST_AGE = Gauge(
    "notif_queue_oldest_message_age_seconds",
    "Age of the oldest message: in the consumer's latest receive (work queues), or in a "
    "peek (DLQs).",
    ["queue"],
)


def record_receive(queue: str, messages: Sequence[MessageTypeDef]) -> None:
    """Called by the consumer after each receive: the oldest message it got (0 if none)."""
    sent = [int(m.get("Attributes", {}).get(SENT_TIMESTAMP_ATTRIBUTE, 0)) / 1000 for m in messages]
    sent = [s for s in sent if s > 0]
    QUEUE_OLDEST_AGE.labels(queue).set(max(0.0, time.time() - min(sent)) if sent else 0.0)


class QueueSampler:
    """Samples the given queues (name → URL) until stopped."""

    def __init__(self, client: SQSClient, queues: dict[str, str], interval: float) -> None:
        self._client = client
        self._queues = queues
        self._interval = interval
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.sample()
            except Exception as exc:  # SQS down: keep the last values, try again
                log.warning("queue_sample_failed", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    async def sample(self) -> None:
        for name, url in self._queues.items():
            response = await self._client.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=list(_STATES.values()),  # type: ignore[arg-type]
            )
            attrs: dict[str, Any] = {str(k): v for k, v in response.get("Attributes", {}).items()}
            for state, attribute in _STATES.items():
                QUEUE_MESSAGES.labels(name, state).set(int(attrs.get(attribute, 0)))
            if name.endswith("-dlq"):
                await self._peek_age(name, url, int(attrs.get(_STATES["visible"], 0)))

    async def _peek_age(self, name: str, url: str, visible: int) -> None:
        if visible == 0:
            QUEUE_OLDEST_AGE.labels(name).set(0)
            return
        response = await self._client.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=[SENT_TIMESTAMP_ATTRIBUTE],
        )
        record_receive(name, response.get("Messages", []))
