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
"""Largest message body plus attributes."""

DEFAULT_VISIBILITY_TIMEOUT: Final = 30
DEFAULT_MAX_RECEIVE_COUNT: Final = 5
DLQ_RETENTION_SECONDS: Final = 14 * 24 * 60 * 60

RECEIVE_COUNT_ATTRIBUTE: Final = "ApproximateReceiveCount"
TRACEPARENT_ATTRIBUTE: Final = "traceparent"
EVENT_TYPE_ATTRIBUTE: Final = "event_type"
