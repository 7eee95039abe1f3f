"""SQS service limits and our defaults, named once so no magic number hides in a call."""

from typing import Final

MAX_BATCH: Final = 10
"""Most messages one ReceiveMessage, SendMessageBatch or DeleteMessageBatch handles."""

MAX_WAIT_SECONDS: Final = 20
"""Longest long-poll SQS allows."""

MAX_VISIBILITY_TIMEOUT: Final = 12 * 60 * 60
"""Longest a received message may stay hidden (12 h)."""

MAX_DELAY_SECONDS: Final = 15 * 60
"""Longest DelaySeconds on send (15 min)."""

MAX_MESSAGE_BYTES: Final = 256 * 1024
"""Largest message body plus attributes we send. SQS has allowed 1 MiB since August 2025,
but a queue's ``MaximumMessageSize`` may be set lower and older queues default to 256 KiB:
this is the size every SQS queue and the local endpoint carry."""

MAX_BATCH_BYTES: Final = 256 * 1024
"""Largest sum of the message sizes in one SendMessageBatch (SQS answers
``BatchRequestTooLong`` above the queue's limit, which is never below this)."""

DEFAULT_VISIBILITY_TIMEOUT: Final = 30
DEFAULT_MAX_RECEIVE_COUNT: Final = 5
DLQ_RETENTION_SECONDS: Final = 14 * 24 * 60 * 60

RECEIVE_COUNT_ATTRIBUTE: Final = "ApproximateReceiveCount"
TRACEPARENT_ATTRIBUTE: Final = "traceparent"
EVENT_TYPE_ATTRIBUTE: Final = "event_type"
