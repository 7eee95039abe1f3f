"""The consumer runtime: long polling, bounded concurrency, delete only after success.

A handler returns an :class:`Outcome`. ``ack`` deletes the message, ``retry`` hides it for a
while through ``ChangeMessageVisibility``, and an exception hides it for a short, growing
backoff (:func:`error_backoff`). SQS counts receives (``ApproximateReceiveCount``), and the queue's
redrive policy moves a message that keeps failing to its DLQ.

Outages are not poison. When a handler fails because a dependency is unreachable
(:func:`notif_core.outages.dependency_down`, confirmed by the service's probe through
:class:`notif_core.outages.Outages`), the message is put back as a fresh copy, as
:meth:`Outcome.requeue` does: a copy starts with a receive count of one, whereas releasing
it with ``ChangeMessageVisibility(0)`` would still have counted the receive. The consumer
then stops receiving until every dependency answers again. In batch mode the ledger's
handler turns failures into ``retry`` outcomes itself, so after any ``retry`` the consumer
probes its dependencies and requeues instead when one is down. If SQS itself refuses the
copy, the original stays and comes back after its visibility timeout (SQS being down is the
one outage that still costs a receive, and the receive loops wait on SQS anyway).

A receive loop that dies of an unexpected exception stops the consumer, which drains and
raises :class:`ConsumerLoopDied`, so the service exits non-zero instead of serving green
probes with no work being done (:func:`notif_core.runtime.run_service`). Each loop beats a
:class:`notif_core.health.Heartbeat` on every turn; ``/health`` follows it. A failing
``DeleteMessageBatch`` is retried, then logged: the message comes back and handlers are
idempotent, so a passing SQS error must not end a loop.

On :meth:`Consumer.stop` the receive loops finish the poll under way (at most
``wait_seconds``) and make what it brought visible again at once. In-flight handlers get
``drain_seconds`` to finish; whatever is still running then is cancelled and its message made
visible again, so nothing acknowledged is lost and nothing waits for a full timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from notif_core import telemetry
from notif_core.health import Heartbeat
from notif_core.logging import get_logger
from notif_core.outages import Outages, dependency_down
from notif_core.sqs.batching import Batcher
from notif_core.sqs.limits import (
    MAX_BATCH,
    MAX_DELAY_SECONDS,
    MAX_VISIBILITY_TIMEOUT,
    MAX_WAIT_SECONDS,
    RECEIVE_COUNT_ATTRIBUTE,
    TRACEPARENT_ATTRIBUTE,
)
from notif_core.sqs.metrics import SENT_TIMESTAMP_ATTRIBUTE, record_receive

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import (
        DeleteMessageBatchRequestEntryTypeDef,
        MessageTypeDef,
    )

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
OUTAGE_REQUEUE_SECONDS = 2
"""Delay of the fresh copy put back during an outage: other replicas pause too, and a copy
that comes back at once would only fail again."""
DELETE_ATTEMPTS = 4
"""DeleteMessageBatch tries (0.5, 1, 2 s apart) before the messages are left to come back."""
WAIT_BEAT_SECONDS = 5.0
"""How often a loop waiting on purpose (free slots, an outage) still beats."""


class ConsumerLoopDied(RuntimeError):
    """A receive loop ended with an unexpected exception; the consumer stopped."""


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
        outages: Outages | None = None,
        heartbeat: Heartbeat | None = None,
        linger_seconds: float = 0.0,
    ) -> None:
        """``linger_seconds``: after a receive that brought some messages but fewer than it
        asked for, wait this long before the next one (the queue fills meanwhile), and let
        a message's delete wait as long for others to share its DeleteMessageBatch. Each
        SQS call costs a signature and a round trip; at a trickle a linger of tens of
        milliseconds makes calls carry several messages instead of one."""
        self._client = client
        self._linger = linger_seconds
        self._queue_urls = list(queue_urls)
        self._wait_seconds = min(wait_seconds, MAX_WAIT_SECONDS)
        self._drain_seconds = drain_seconds
        self._stopping = asyncio.Event()
        self._in_flight: dict[asyncio.Task[None], Delivery] = {}
        self._free = 0
        self._slot_freed = asyncio.Condition()
        self._lanes: list[_Lane] = []
        self._reserve = 0
        self._deleter: Batcher[Delivery] = Batcher(self._delete_entries, linger_seconds)
        self.outages = outages or Outages()
        self.heartbeat = heartbeat or Heartbeat()

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
        died = await self._supervise(loops)
        async with self._slot_freed:
            self._slot_freed.notify_all()  # wake loops waiting for a free slot
        await asyncio.gather(*loops, return_exceptions=True)
        await self._drain()
        self._finish(died)

    async def _supervise(self, loops: list[asyncio.Task[None]]) -> BaseException | None:
        """Wait for stop() or for a loop to end first, which only a failure makes it do;
        then stop the others and return that failure."""
        stopping = asyncio.create_task(self._stopping.wait())
        await asyncio.wait([stopping, *loops], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        for loop in loops:
            if loop.done() and not self._stopping.is_set():
                error = (None if loop.cancelled() else loop.exception()) or RuntimeError(
                    "receive loop ended on its own"
                )
                log.error("consumer_loop_died", error=repr(error), exc_info=error)
                self._stopping.set()
                return error
        return None

    def _finish(self, died: BaseException | None) -> None:
        self.outages.close()
        if died is not None:
            raise ConsumerLoopDied(f"a receive loop died: {died!r}") from died

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
        name = f"each:{index}"
        try:
            while not self._stopping.is_set():
                self.heartbeat.beat(name)
                await self.outages.wait_clear(functools.partial(self.heartbeat.beat, name))
                async with self._slot_freed:
                    while not (self._allowance(index) > 0 or self._stopping.is_set()):
                        self.heartbeat.beat(name)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._slot_freed.wait(), WAIT_BEAT_SECONDS)
                    if self._stopping.is_set():
                        return
                    wanted = min(MAX_BATCH, self._allowance(index))
                    self._free -= wanted
                await self._receive_and_start(lane, wanted, handler)
        finally:
            self.heartbeat.forget(name)

    async def _receive_and_start(self, lane: _Lane, wanted: int, handler: Handler) -> None:
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
        if messages and unused and self._linger > 0:
            await asyncio.sleep(self._linger)  # a trickle: let the queue fill a little

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
        except Exception as exc:
            outcome = await self._after_failure([delivery], exc)
        try:
            await self._apply(delivery, outcome)
        except Exception:
            # Left as it is, the message comes back after its visibility timeout.
            log.exception("settle_failed", message_id=delivery.message_id)

    async def _after_failure(self, deliveries: Sequence[Delivery], exc: Exception) -> Outcome:
        """The outcome for messages whose handler raised ``exc``: requeued without counting
        when it shows a confirmed outage, otherwise hidden for a backoff (a counted receive)."""
        dependency = dependency_down(exc)
        if dependency is not None and await self.outages.confirm(dependency):
            log.warning(
                "handler_outage",
                dependency=dependency,
                down=self.outages.down,
                size=len(deliveries),
                error=type(exc).__name__,
            )
            return Outcome.requeue(OUTAGE_REQUEUE_SECONDS)
        log.exception("handler_failed", message_ids=[d.message_id for d in deliveries])
        return Outcome.retry(error_backoff(max(d.receive_count for d in deliveries)))

    # --- batch mode (ledger) --------------------------------------------------------------

    async def run_batches(
        self, handler: BatchHandler, *, batch_size: int = MAX_BATCH, loops_per_queue: int = 1
    ) -> None:
        """Hand batches of up to ``batch_size`` messages to ``handler`` and apply its outcomes.

        A batch starts with one long poll (at most ten messages, SQS's limit); while the queue
        keeps giving full answers, more receives without waiting top it up, so a backlog is
        handled ``batch_size`` at a time and a trickle is not held back."""
        loops = [
            asyncio.create_task(self._batch_loop(f"batch:{n}", url, handler, batch_size))
            for n, url in enumerate(u for u in self._queue_urls for _ in range(loops_per_queue))
        ]
        died = await self._supervise(loops)
        await asyncio.wait(loops, timeout=self._drain_seconds)
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        self._finish(died)

    async def _batch_loop(
        self, name: str, queue_url: str, handler: BatchHandler, batch_size: int
    ) -> None:
        try:
            while not self._stopping.is_set():
                self.heartbeat.beat(name)
                await self.outages.wait_clear(functools.partial(self.heartbeat.beat, name))
                await self._one_batch(queue_url, handler, batch_size)
        finally:
            self.heartbeat.forget(name)

    async def _one_batch(self, queue_url: str, handler: BatchHandler, batch_size: int) -> None:
        messages = await self._receive(queue_url, MAX_BATCH)
        if not messages:
            return
        if len(messages) < MAX_BATCH and self._linger > 0 and not self._stopping.is_set():
            # a trickle: let the queue fill a little, so the batch costs one transaction
            await asyncio.sleep(self._linger)
            messages += await self._receive(queue_url, MAX_BATCH, wait_seconds=0)
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
        except Exception as exc:
            outcome = await self._after_failure(deliveries, exc)
            outcomes = [outcome] * len(deliveries)
        if any(o.retry_after is not None for o in outcomes) and await self.outages.check_all():
            # The handler gave up on some; with a dependency down that says nothing
            # about the messages: put them back uncounted.
            log.warning("batch_outage", down=self.outages.down, size=len(deliveries))
            outcomes = [
                Outcome.requeue(OUTAGE_REQUEUE_SECONDS) if o.retry_after is not None else o
                for o in outcomes
            ]
        await self._settle_batch(queue_url, deliveries, outcomes)

    async def _settle_batch(
        self, queue_url: str, deliveries: list[Delivery], outcomes: list[Outcome]
    ) -> None:
        pairs = list(zip(deliveries, outcomes, strict=True))
        requeued = [(d, o.requeue_after) for d, o in pairs if o.requeue_after is not None]
        sent = await asyncio.gather(*(self._send_copy(d, delay) for d, delay in requeued))
        # An original whose copy was not sent stays, to come back after its visibility timeout.
        kept = {d.message_id for (d, _), ok in zip(requeued, sent, strict=True) if not ok}
        pairs = [(d, o) for d, o in pairs if d.message_id not in kept]
        acks = [d for d, o in pairs if o.delete]
        for start in range(0, len(acks), MAX_BATCH):
            try:
                await self._delete_entries(queue_url, acks[start : start + MAX_BATCH])
            except Exception:
                log.exception("delete_batch_failed", size=len(acks[start : start + MAX_BATCH]))
        for d, o in pairs:
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

    async def _send_copy(self, delivery: Delivery, delay: int) -> bool:
        try:
            await self._client.send_message(
                QueueUrl=delivery.queue_url,
                MessageBody=delivery.body,
                DelaySeconds=delay,
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in delivery.attributes.items()
                },
            )
        except Exception:
            log.exception("requeue_failed", message_id=delivery.message_id)
            return False
        return True

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
        """One DeleteMessageBatch (≤ 10 entries), tried :data:`DELETE_ATTEMPTS` times while
        the call itself fails; a failed entry is logged (the message will come back, and
        handlers are idempotent)."""
        entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(i), "ReceiptHandle": d.receipt_handle} for i, d in enumerate(deliveries)
        ]
        for attempt in range(1, DELETE_ATTEMPTS + 1):
            try:
                response = await self._client.delete_message_batch(
                    QueueUrl=queue_url, Entries=entries
                )
                break
            except Exception as exc:
                if attempt == DELETE_ATTEMPTS:
                    raise
                log.warning("delete_retry", attempt=attempt, error=type(exc).__name__)
                await asyncio.sleep(0.5 * 2 ** (attempt - 1))
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
