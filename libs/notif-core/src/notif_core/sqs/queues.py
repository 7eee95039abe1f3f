"""Queue names per environment, their URLs, and idempotent provisioning with DLQs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from notif_core.sqs.limits import DEFAULT_VISIBILITY_TIMEOUT, DLQ_RETENTION_SECONDS

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient


@dataclass(frozen=True)
class QueueNames:
    """The three work queues; each has a ``-dlq`` twin reached by redrive policy."""

    prefix: str = "notif"

    @property
    def dispatch_high(self) -> str:
        return f"{self.prefix}-dispatch-high"

    @property
    def dispatch(self) -> str:
        return f"{self.prefix}-dispatch"

    @property
    def events(self) -> str:
        return f"{self.prefix}-events"

    def all(self) -> tuple[str, ...]:
        return (self.dispatch_high, self.dispatch, self.events)

    @staticmethod
    def dlq(name: str) -> str:
        return f"{name}-dlq"


async def provision_queues(
    client: SQSClient, names: QueueNames, *, max_receive_count: int
) -> dict[str, str]:
    """Create every queue and its DLQ (idempotent); returns name → URL for all six."""
    urls: dict[str, str] = {}
    for name in names.all():
        dlq_name = names.dlq(name)
        dlq_url = (
            await client.create_queue(
                QueueName=dlq_name,
                Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)},
            )
        )["QueueUrl"]
        dlq_arn = (
            await client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
        )["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
        url = (
            await client.create_queue(
                QueueName=name,
                Attributes={"VisibilityTimeout": str(DEFAULT_VISIBILITY_TIMEOUT)},
            )
        )["QueueUrl"]
        # create_queue does not change attributes of an existing queue: set them explicitly.
        await client.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": redrive})
        urls[name] = url
        urls[dlq_name] = dlq_url
    return urls


QueueKey = Literal["dispatch", "dispatch_high", "events"]


class QueueDirectory:
    """Queue URLs looked up on first use and then cached.

    A service that must answer while SQS is down (ingest keeps accepting into its outbox)
    cannot resolve URLs at start; it asks here when it first publishes.
    """

    def __init__(self, client: SQSClient, names: QueueNames) -> None:
        self._client = client
        self._names = names
        self._urls: dict[str, str] = {}

    async def url(self, key: QueueKey) -> str:
        if key not in self._urls:
            name = getattr(self._names, key)
            self._urls[key] = (await self._client.get_queue_url(QueueName=name))["QueueUrl"]
        return self._urls[key]

    async def with_dlqs(self, *keys: QueueKey) -> dict[str, str]:
        """Name → URL of these queues and of their DLQs: what a service watches."""
        found: dict[str, str] = {}
        for key in keys:
            name = getattr(self._names, key)
            found[name] = await self.url(key)
            dlq = self._names.dlq(name)
            found[dlq] = (await self._client.get_queue_url(QueueName=dlq))["QueueUrl"]
        return found


async def queue_depths(client: SQSClient, names: Sequence[str]) -> dict[str, int]:
    """Visible plus in-flight messages per queue name, as KEDA's SQS scaler counts them."""
    depths: dict[str, int] = {}
    for name in names:
        url = (await client.get_queue_url(QueueName=name))["QueueUrl"]
        attrs = (
            await client.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )
        )["Attributes"]
        depths[name] = int(attrs.get("ApproximateNumberOfMessages", 0)) + int(
            attrs.get("ApproximateNumberOfMessagesNotVisible", 0)
        )
    return depths
