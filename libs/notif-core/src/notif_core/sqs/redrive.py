"""The start-up check that a service's retry budget fits inside its queues' redrive policy.

Every retry through ``ChangeMessageVisibility`` costs a receive, and the redrive policy moves
a message to its DLQ once it has been received ``maxReceiveCount`` times. A service whose
own budget (the dispatcher's ``MAX_ATTEMPTS``) reaches that count could have SQS park a
message before the service writes its terminal event, leaving it with no outcome. So the
service reads the policy at start and refuses to run when its budget is not below it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from notif_core.sqs.consumer import queue_name

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient


class RetryBudgetTooLarge(RuntimeError):
    """A queue's redrive policy would move messages to the DLQ within the retry budget."""


async def max_receive_count(client: SQSClient, queue_url: str) -> int | None:
    """The queue's ``maxReceiveCount``, or ``None`` when it has no redrive policy."""
    attrs = await client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
    policy = attrs.get("Attributes", {}).get("RedrivePolicy")
    if not policy:
        return None
    return int(json.loads(policy)["maxReceiveCount"])


async def check_retry_budget(
    client: SQSClient, queue_urls: Sequence[str], budget: int, setting: str
) -> None:
    """Raise :class:`RetryBudgetTooLarge` unless ``budget`` (the receives one message may
    use before the service gives it a terminal outcome, named ``setting`` in the message)
    is below every queue's ``maxReceiveCount``. A queue without a DLQ passes."""
    for url in queue_urls:
        count = await max_receive_count(client, url)
        if count is not None and budget >= count:
            raise RetryBudgetTooLarge(
                f"{setting}={budget} must be below maxReceiveCount={count} of queue "
                f"{queue_name(url)}: SQS would move a message to its DLQ before its terminal "
                f"event is written. Lower {setting} or raise the queue's maxReceiveCount "
                "(MAX_RECEIVE_COUNT at provisioning)."
            )
