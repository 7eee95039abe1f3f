"""The consumer runtime: long polling, bounded concurrency, delete only after success.

A handler returns an :class:`Outcome`. ``ack`` deletes the message, ``retry`` hides it for a
while through ``ChangeMessageVisibility``, and an exception hides it for a short, growing
backoff (:func:`error_backoff`). SQS counts receives (``ApproximateReceiveCount``), and the queue's
redrive policy moves a message that keeps failing to its DLQ.

On :meth:`Consumer.stop` the receive loops finish the poll under way (at most
``wait_seconds``) and make what it brought visible again at once. In-flight handlers get
``drain_seconds`` to finish; whatever is still running then is cancelled and its message made
visible again, so nothing acknowledged is lost and nothing waits for a full timeout.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from notif_core import telemetry
from notif_core.logging import get_logger
from notif_core.sqs._sqs import (
    MAX_BATCH,
    MAX_DELAY_SECONDS,
    MAX_VISIBILITY_TIMEOUT,
    MAX_WAIT_SECONDS,
    RECEIVE_COUNT_ATTRIBUTE,
    TRACEPARENT_ATTRIBUTE,
)
from notif_core.sqs.batching import Batcher
from notif_core.sqs.metrics import SENT_TIMESTAMP_ATTRIBUTE, record_receive

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

log = get_logger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One received SQS message."""

    queue_url: str
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    attributes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_message(cls, queue_url: str, message: MessageTypeDef) -> Delivery:
        attrs = {
            name: value.get("StringValue", "")
            for name, value in message.get("MessageAttributes", {}).items()
        }
        return cls(
            queue_url=queue_url,
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            body=message["Body"],
            receive_count=int(message.get("Attributes", {}).get(RECEIVE_COUNT_ATTRIBUTE, "1")),
            attributes=attrs,
        )


@dataclass(frozen=True)
class Outcome:
    """What to do with a message after its handler ran.

    ``retry`` hides the message (``ChangeMessageVisibility``); the redelivery counts as a
    receive, which the redrive policy counts toward the DLQ. ``requeue`` sends a fresh copy
    with a delay and deletes the original: for waiting (rate limits, an open breaker) that
    must not use up receives.
    """

    delete: bool
    retry_after: int | None = None
    requeue_after: int | None = None

    @classmethod
    def ack(cls) -> Outcome:
        return cls(delete=True)

    @classmethod
    def retry(cls, after_seconds: float) -> Outcome:
        seconds = max(0, min(math.ceil(after_seconds), MAX_VISIBILITY_TIMEOUT))
        return cls(delete=False, retry_after=seconds)

    @classmethod
    def requeue(cls, after_seconds: float) -> Outcome:
        seconds = max(0, min(math.ceil(after_seconds), MAX_DELAY_SECONDS))
        return cls(delete=True, requeue_after=seconds)


def queue_name(queue_url: str) -> str:
    """The queue's name: the last part of its URL."""
    return queue_url.rsplit("/", 1)[-1]


def error_backoff(receive_count: int) -> int:
    """After an unexpected error: 1, 2, 4, 8, 16 s. A passing fault (a database restart)
    costs a second; a message that always fails reaches the DLQ within half a minute."""
    return int(min(30, 2 ** max(0, receive_count - 1)))


SHARE_WINDOW = 200


@dataclass
class _Lane:
    url: str
    in_flight: int = 0
    had_work: bool = False
    done: int = 0


Handler = Callable[[Delivery], Awaitable[Outcome]]
BatchHandler = Callable[[list[Delivery]], Awaitable[list[Outcome]]]


class Consumer:
    """Receives from one or more queues and hands messages to a handler."""

    def __init__(
        self,
        client: SQSClient,
        queue_urls: Sequence[str],
        *,
        wait_seconds: int = 10,
        drain_seconds: float = 20.0,
    ) -> None:
        self._client = client
        self._queue_urls = list(queue_urls)
        self._wait_seconds = min(wait_seconds, MAX_WAIT_SECONDS)
        self._drain_seconds = drain_seconds
        self._stopping = asyncio.Event()
        self._in_flight: dict[asyncio.Task[None], Delivery] = {}
        self._free = 0
        self._slot_freed = asyncio.Condition()
        self._lanes: list[_Lane] = []
        self._reserve = 0
        self._deleter: Batcher[Delivery] = Batcher(self._delete_entries)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def stop(self) -> None:
        """Stop receiving; :meth:`run_each` / :meth:`run_batches` then drain and return."""
        self._stopping.set()

    # --- per-message mode (dispatcher) --------------------------------------------------

    async def run_each(
        self, handler: Handler, *, concurrency: int, reserve_share: float = 0.1
    ) -> None:
        """Run ``handler`` on each message with at most ``concurrency`` in flight.

        Queues are lanes in priority order: the first takes every free slot, except that
        while a later lane has work, ``reserve_share`` of the slots stay for the later lanes;
        when the first lane is empty, the others may use everything.
        """
        self._free = concurrency
        self._lanes = [_Lane(url) for url in self._queue_urls]
        self._reserve = max(1, int(concurrency * reserve_share)) if len(self._lanes) > 1 else 0
        self._share = reserve_share
        loops = [
            asyncio.create_task(self._each_loop(index, handler))
            for index in range(len(self._lanes))
        ]
        await self._stopping.wait()
        async with self._slot_freed:
            self._slot_freed.notify_all()  # wake loops waiting for a free slot
        await asyncio.gather(*loops, return_exceptions=True)
        await self._drain()

    def _allowance(self, index: int) -> int:
        if len(self._lanes) == 1:
            return self._free
        lower_in_flight = sum(lane.in_flight for lane in self._lanes[1:])
        done = sum(lane.done for lane in self._lanes)
        lower_done = sum(lane.done for lane in self._lanes[1:])
        # Receives cost the small reserve more than the big lane: add a slot while the
        # lower lanes' actual share of recent sends is under their due.
        behind = done > 0 and lower_done < self._share * done
        unused_reserve = max(0, self._reserve + int(behind) - lower_in_flight)
        if index == 0:
            lower_waiting = any(lane.had_work for lane in self._lanes[1:])
            return max(0, self._free - (unused_reserve if lower_waiting else 0))
        if not self._lanes[0].had_work:
            return self._free
        return min(self._free, unused_reserve)

    async def _each_loop(self, index: int, handler: Handler) -> None:
        lane = self._lanes[index]
        while not self._stopping.is_set():
            async with self._slot_freed:
                await self._slot_freed.wait_for(
                    lambda: self._allowance(index) > 0 or self._stopping.is_set()
                )
                if self._stopping.is_set():
                    return
                wanted = min(MAX_BATCH, self._allowance(index))
                self._free -= wanted
            messages = await self._receive(lane.url, wanted)
            lane.had_work = bool(messages)
            unused = wanted - len(messages)
            if unused:
                await self._release_slots(unused)
            for message in messages:
                delivery = Delivery.from_message(lane.url, message)
                lane.in_flight += 1
                task = asyncio.create_task(self._handle_one(handler, delivery))
                self._in_flight[task] = delivery
                task.add_done_callback(functools.partial(self._on_task_done, lane=lane))

    def _on_task_done(self, task: asyncio.Task[None], *, lane: _Lane) -> None:
        self._in_flight.pop(task, None)
        lane.in_flight -= 1
        lane.done += 1
        if sum(other.done for other in self._lanes) >= SHARE_WINDOW:
            for other in self._lanes:  # a sliding sense of "recent"
                other.done //= 2
        asyncio.get_running_loop().create_task(self._release_slots(1))

    async def _release_slots(self, count: int) -> None:
        async with self._slot_freed:
            self._free += count
            self._slot_freed.notify_all()

    async def _handle_one(self, handler: Handler, delivery: Delivery) -> None:
        try:
            with telemetry.continued(
                f"{queue_name(delivery.queue_url)} process",
                delivery.attributes.get(TRACEPARENT_ATTRIBUTE),
                **{"messaging.system": "aws_sqs", "messaging.message.id": delivery.message_id},
            ):
                outcome = await handler(delivery)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handler_failed", message_id=delivery.message_id)
            outcome = Outcome.retry(error_backoff(delivery.receive_count))
        await self._apply(delivery, outcome)

    # --- batch mode (ledger) --------------------------------------------------------------

    async def run_batches(
        self, handler: BatchHandler, *, batch_size: int = MAX_BATCH, loops_per_queue: int = 1
    ) -> None:
        """Hand batches of up to ``batch_size`` messages to ``handler`` and apply its outcomes.

        A batch starts with one long poll (at most ten messages, SQS's limit); while the queue
        keeps giving full answers, more receives without waiting top it up, so a backlog is
        handled ``batch_size`` at a time and a trickle is not held back."""
        loops = [
            asyncio.create_task(self._batch_loop(url, handler, batch_size))
            for url in self._queue_urls
            for _ in range(loops_per_queue)
        ]
        await self._stopping.wait()
        await asyncio.wait(loops, timeout=self._drain_seconds)
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)

    async def _batch_loop(self, queue_url: str, handler: BatchHandler, batch_size: int) -> None:
        while not self._stopping.is_set():
            messages = await self._receive(queue_url, MAX_BATCH)
            if not messages:
                continue
            while len(messages) < batch_size and len(messages) % MAX_BATCH == 0:
                more = await self._receive(
                    queue_url, min(MAX_BATCH, batch_size - len(messages)), wait_seconds=0
                )
                messages += more
                if len(more) < MAX_BATCH:
                    break
            deliveries = [Delivery.from_message(queue_url, m) for m in messages]
            try:
                outcomes = await handler(deliveries)
            except Exception:
                log.exception("batch_handler_failed", size=len(deliveries))
                outcomes = [Outcome.retry(error_backoff(d.receive_count)) for d in deliveries]
            acks = [d for d, o in zip(deliveries, outcomes, strict=True) if o.delete]
            for start in range(0, len(acks), MAX_BATCH):
                await self._delete_entries(queue_url, acks[start : start + MAX_BATCH])
            for d, o in zip(deliveries, outcomes, strict=True):
                if not o.delete and o.retry_after is not None:
                    await self._change_visibility(d, o.retry_after)

    # --- SQS calls ------------------------------------------------------------------------

    async def _receive(
        self, queue_url: str, count: int, *, wait_seconds: int | None = None
    ) -> list[MessageTypeDef]:
        """Long-poll once. A poll under way when stop() comes is allowed to finish, and
        whatever it brings is made visible again at once: abandoning the poll instead would
        leave its messages hidden for a whole visibility timeout."""
        try:
            response = await self._client.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=self._wait_seconds if wait_seconds is None else wait_seconds,
                MessageSystemAttributeNames=[RECEIVE_COUNT_ATTRIBUTE, SENT_TIMESTAMP_ATTRIBUTE],
                MessageAttributeNames=["All"],
            )
        except Exception:
            log.exception("receive_failed", queue=queue_name(queue_url))
            await asyncio.sleep(1)
            return []
        messages = response.get("Messages", [])
        record_receive(queue_name(queue_url), messages)
        if messages and self._stopping.is_set():
            for message in messages:
                await self._change_visibility(Delivery.from_message(queue_url, message), 0)
            return []
        return messages

    async def _apply(self, delivery: Delivery, outcome: Outcome) -> None:
        if outcome.requeue_after is not None:
            await self._client.send_message(
                QueueUrl=delivery.queue_url,
                MessageBody=delivery.body,
                DelaySeconds=outcome.requeue_after,
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in delivery.attributes.items()
                },
            )
        if outcome.delete:
            await self._deleter.submit(delivery.queue_url, delivery)
        elif outcome.retry_after is not None:
            await self._change_visibility(delivery, outcome.retry_after)

    async def _change_visibility(self, delivery: Delivery, seconds: int) -> None:
        try:
            await self._client.change_message_visibility(
                QueueUrl=delivery.queue_url,
                ReceiptHandle=delivery.receipt_handle,
                VisibilityTimeout=seconds,
            )
        except Exception:
            log.exception("change_visibility_failed", message_id=delivery.message_id)

    async def _delete_entries(
        self, queue_url: str, deliveries: Sequence[Delivery]
    ) -> list[BaseException | None]:
        """One DeleteMessageBatch (≤ 10 entries); a failed entry is logged (the message
        will come back, and handlers are idempotent)."""
        response = await self._client.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": d.receipt_handle} for i, d in enumerate(deliveries)
            ],
        )
        failed = {int(f["Id"]) for f in response.get("Failed", [])}
        for index in failed:
            log.warning("delete_failed", message_id=deliveries[index].message_id)
        return [None] * len(deliveries)

    async def _drain(self) -> None:
        """Let in-flight handlers finish, then release whatever is left."""
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=self._drain_seconds)
        leftovers = dict(self._in_flight)
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.gather(*leftovers, return_exceptions=True)
            for delivery in leftovers.values():
                await self._change_visibility(delivery, 0)
            log.warning("released_in_flight", count=len(leftovers))
