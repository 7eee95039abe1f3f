"""SQS transport on aiobotocore: queue names, provisioning, publisher and consumer runtime.

FastStream has no SQS broker (see docs/architecture.md), so this small runtime stands in.
"""

from notif_core.sqs.client import sqs_client
from notif_core.sqs.consumer import Consumer, Delivery, Outcome, error_backoff
from notif_core.sqs.publisher import Outgoing, Publisher
from notif_core.sqs.queues import (
    QueueDirectory,
    QueueKey,
    QueueNames,
    provision_queues,
    queue_depths,
)

__all__ = [
    "Consumer",
    "Delivery",
    "Outcome",
    "Outgoing",
    "Publisher",
    "QueueDirectory",
    "QueueKey",
    "QueueNames",
    "error_backoff",
    "provision_queues",
    "queue_depths",
    "sqs_client",
]
