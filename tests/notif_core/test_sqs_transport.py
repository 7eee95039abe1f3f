"""The SQS runtime against the real local endpoint (ministack): publish, consume, retry, stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError
from tests.conftest import Stack

from notif_core import events as ev
from notif_core.ids import new_id
from notif_core.settings import CoreSettings
from notif_core.sqs import Consumer, Delivery, Outcome, Publisher, provision_queues, sqs_client
from notif_core.sqs.queues import QueueNames

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient


@pytest.fixture
async def queue(stack: Stack) -> AsyncIterator[tuple[SQSClient, str]]:
    """A fresh queue (with DLQ) per test, under its own prefix."""
    async with sqs_client(CoreSettings()) as client:
        names = QueueNames(f"t{new_id().hex[-10:]}")
        urls = await provision_queues(client, names, max_receive_count=3)
        yield client, urls[names.events]


def sent_event() -> ev.NotificationSent:
    return ev.NotificationSent(
        producer="test",
        notification_id=new_id(),
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        payload=ev.SentPayload(wamid="wamid.T"),
    )


async def depth(client: SQSClient, url: str) -> int:
    attrs = await client.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    a = attrs["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


async def test_every_published_event_is_consumed_once_and_deleted(
    queue: tuple[SQSClient, str],
) -> None:
    client, url = queue
    published = [sent_event() for _ in range(25)]
    await Publisher(client).publish(url, published)
    seen: list[ev.Event] = []
    consumer = Consumer(client, [url], wait_seconds=1)

    async def handler(delivery: Delivery) -> Outcome:
        seen.append(ev.parse_event(delivery.body))
        assert delivery.attributes["traceparent"].startswith("00-0af76519")
        if len(seen) == len(published):
            consumer.stop()
        return Outcome.ack()

    await asyncio.wait_for(consumer.run_each(handler, concurrency=4), 30)
    assert sorted(e.event_id for e in seen) == sorted(e.event_id for e in published)
    assert await depth(client, url) == 0


async def test_retry_hides_the_message_then_it_returns_counted(
    queue: tuple[SQSClient, str],
) -> None:
    client, url = queue
    await Publisher(client).publish(url, [sent_event()])
    counts: list[int] = []
    consumer = Consumer(client, [url], wait_seconds=1)

    async def handler(delivery: Delivery) -> Outcome:
        counts.append(delivery.receive_count)
        if delivery.receive_count < 2:
            return Outcome.retry(1)
        consumer.stop()
        return Outcome.ack()

    await asyncio.wait_for(consumer.run_each(handler, concurrency=2), 30)
    assert counts == [1, 2]
    assert await depth(client, url) == 0


async def test_stop_releases_unfinished_work_at_once(queue: tuple[SQSClient, str]) -> None:
    client, url = queue
    await Publisher(client).publish(url, [sent_event()])
    started = asyncio.Event()
    consumer = Consumer(client, [url], wait_seconds=1, drain_seconds=0.5)

    async def stuck(_delivery: Delivery) -> Outcome:
        started.set()
        await asyncio.sleep(3600)
        return Outcome.ack()

    run = asyncio.create_task(consumer.run_each(stuck, concurrency=1))
    await asyncio.wait_for(started.wait(), 10)
    consumer.stop()
    await asyncio.wait_for(run, 10)
    # Released with visibility 0: receivable immediately, not after the 30 s timeout.
    again = await client.receive_message(QueueUrl=url, WaitTimeSeconds=2, MaxNumberOfMessages=1)
    assert len(again.get("Messages", [])) == 1


async def test_batch_mode_deletes_only_acknowledged(queue: tuple[SQSClient, str]) -> None:
    client, url = queue
    await Publisher(client).publish(url, [sent_event() for _ in range(4)])
    consumer = Consumer(client, [url], wait_seconds=1)
    handled: list[str] = []

    async def handler(batch: list[Delivery]) -> list[Outcome]:
        outcomes = []
        for delivery in batch:
            handled.append(delivery.message_id)
            outcomes.append(Outcome.ack() if len(handled) % 2 else Outcome.retry(60))
        if len(handled) >= 4:
            consumer.stop()
        return outcomes

    await asyncio.wait_for(consumer.run_batches(handler), 30)
    assert len(handled) == 4
    assert await depth(client, url) == 2


async def test_publishing_to_a_missing_queue_raises(queue: tuple[SQSClient, str]) -> None:
    client, url = queue
    bogus = url.rsplit("/", 1)[0] + "/no-such-queue"
    with pytest.raises(ClientError, match=r"NonExistentQueue|QueueDoesNotExist"):
        await Publisher(client).publish(bogus, [sent_event()])


async def test_high_lane_first_while_normal_keeps_its_share(stack: Stack) -> None:
    async with sqs_client(CoreSettings()) as client:
        names = QueueNames(f"t{new_id().hex[-10:]}")
        urls = await provision_queues(client, names, max_receive_count=3)
        high, normal = urls[names.dispatch_high], urls[names.dispatch]
        await Publisher(client).publish(high, [sent_event() for _ in range(60)])
        await Publisher(client).publish(normal, [sent_event() for _ in range(60)])
        order: list[str] = []
        consumer = Consumer(client, [high, normal], wait_seconds=1)

        async def handler(delivery: Delivery) -> Outcome:
            await asyncio.sleep(0.02)
            order.append("high" if delivery.queue_url == high else "normal")
            if len(order) == 120:
                consumer.stop()
            return Outcome.ack()

        await asyncio.wait_for(consumer.run_each(handler, concurrency=10), 60)
    first_half = order[:60]
    assert first_half.count("high") > first_half.count("normal")  # high is served first
    assert first_half.count("normal") >= 6  # but normal keeps at least 10% while both wait


async def test_with_a_linger_a_trickle_is_handled_as_one_batch(
    queue: tuple[SQSClient, str],
) -> None:
    client, url = queue
    publisher = Publisher(client)
    await publisher.publish(url, [sent_event()])
    consumer = Consumer(client, [url], wait_seconds=1, linger_seconds=1.0)
    batches: list[int] = []

    async def handler(batch: list[Delivery]) -> list[Outcome]:
        batches.append(len(batch))
        consumer.stop()
        return [Outcome.ack() for _ in batch]

    async def trickle() -> None:
        await asyncio.sleep(0.2)  # while the consumer lingers on the first one
        await publisher.publish(url, [sent_event() for _ in range(3)])

    await asyncio.wait_for(asyncio.gather(consumer.run_batches(handler), trickle()), 30)
    assert batches == [4]
    assert await depth(client, url) == 0


async def test_with_a_linger_deletes_share_one_call(queue: tuple[SQSClient, str]) -> None:
    client, url = queue
    await Publisher(client).publish(url, [sent_event() for _ in range(3)])
    deletes: list[int] = []
    real_delete = client.delete_message_batch

    async def counted(**kwargs: object) -> object:
        entries = kwargs["Entries"]
        assert isinstance(entries, list)
        deletes.append(len(entries))
        return await real_delete(**kwargs)  # type: ignore[arg-type]

    client.delete_message_batch = counted  # type: ignore[assignment,method-assign]
    consumer = Consumer(client, [url], wait_seconds=1, linger_seconds=0.5)
    handled = 0

    async def handler(delivery: Delivery) -> Outcome:
        nonlocal handled
        handled += 1
        await asyncio.sleep(0.05 * handled)  # they finish apart, within the linger
        if handled == 3:
            consumer.stop()
        return Outcome.ack()

    await asyncio.wait_for(consumer.run_each(handler, concurrency=10), 30)
    assert handled == 3
    assert deletes == [3]
    assert await depth(client, url) == 0
