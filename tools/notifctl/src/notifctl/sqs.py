"""notifctl's SQS client: boto3, synchronous like the command line, configured from the
settings the services read (``SQS_ENDPOINT_URL``, ``AWS_REGION``, and AWS credentials from
the environment), so it reaches the same queues: AWS, or the local endpoint of make run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from notif_core.settings import CoreSettings

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient
    from types_boto3_sqs.literals import QueueAttributeNameType

DEPTH: tuple[QueueAttributeNameType, ...] = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
)
"""Visible plus in flight: what KEDA's SQS scaler counts as a queue's length."""


@contextmanager
def sqs_client(settings: CoreSettings) -> Iterator[SQSClient]:
    """An SQS client for the configured endpoint (the local endpoint or AWS)."""
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30
    )
    client = boto3.client(
        "sqs",
        region_name=settings.aws_region,
        endpoint_url=settings.sqs_endpoint_url,
        config=config,
    )
    try:
        yield client
    finally:
        client.close()


def queue_url(client: SQSClient, name: str) -> str:
    return client.get_queue_url(QueueName=name)["QueueUrl"]


def queue_depths(client: SQSClient, names: Sequence[str]) -> dict[str, int]:
    """Visible plus in-flight messages per queue name, as KEDA's SQS scaler counts them."""
    depths: dict[str, int] = {}
    for name in names:
        attrs = client.get_queue_attributes(
            QueueUrl=queue_url(client, name), AttributeNames=list(DEPTH)
        )["Attributes"]
        depths[name] = sum(int(attrs.get(count, "0")) for count in DEPTH)
    return depths
