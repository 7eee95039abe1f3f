"""``notifctl queues`` and ``notifctl dlq``: look at the queues, inspect and redrive DLQs,
purge with confirmation. Works the same against AWS and the local SQS endpoint."""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING, Any

from notif_core.settings import CoreSettings
from notif_core.sqs.limits import MAX_BATCH
from notif_core.sqs.queues import QueueNames
from notifctl.sqs import queue_url, sqs_client

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient

LANES = ("dispatch-high", "dispatch", "events")
COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def register(sub: Any) -> None:
    queues = sub.add_parser("queues", help="queue depths; purge").add_subparsers(
        dest="action", required=True
    )
    queues.add_parser("stats", help="depth, in flight, delayed and oldest age of every queue")
    purge = queues.add_parser("purge", help="delete every message of one queue")
    purge.add_argument("name", help="e.g. dispatch, events-dlq")
    purge.add_argument("--yes-i-know", action="store_true", dest="confirmed")
    dlq = sub.add_parser("dlq", help="dead-letter queues").add_subparsers(
        dest="action", required=True
    )
    listing = dlq.add_parser("list", help="show what is in a DLQ (without taking it)")
    listing.add_argument("--queue", choices=LANES, default="dispatch")
    listing.add_argument("--max", type=int, default=10)
    redrive = dlq.add_parser("redrive", help="move DLQ messages back to their queue")
    redrive.add_argument("--queue", choices=LANES, default="dispatch")
    redrive.add_argument("--limit", type=int, default=1000)


def run(args: argparse.Namespace) -> int:
    settings = CoreSettings()
    names = QueueNames(settings.queue_prefix)
    with sqs_client(settings) as client:
        if args.command == "queues" and args.action == "stats":
            return _stats(client, names)
        if args.command == "queues":
            return _purge(client, names, args.name, args.confirmed)
        if args.action == "list":
            return _list(client, names, args.queue, args.max)
        return _redrive(client, names, args.queue, args.limit)


def _full(names: QueueNames, short: str) -> str:
    return f"{names.prefix}-{short}"


def _peek(client: SQSClient, url: str, count: int) -> list[Any]:
    """Look at up to ``count`` messages and leave them visible (visibility 0).

    Only for DLQs: on a work queue each look would count as a receive toward the DLQ.
    """
    response = client.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=min(count, MAX_BATCH),
        VisibilityTimeout=0,
        WaitTimeSeconds=0,
        MessageSystemAttributeNames=["All"],
    )
    return list(response.get("Messages", []))


def _stats(client: SQSClient, names: QueueNames) -> int:
    print(f"{'queue':<28} {'visible':>8} {'in flight':>10} {'delayed':>8} {'oldest':>10}")
    for lane in LANES:
        for name in (_full(names, lane), names.dlq(_full(names, lane))):
            url = queue_url(client, name)
            response = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
            attrs: dict[str, str] = {str(k): v for k, v in response["Attributes"].items()}
            oldest = "-"
            if name.endswith("-dlq") and int(attrs[COUNTS[0]]):
                sent = [int(m["Attributes"]["SentTimestamp"]) for m in _peek(client, url, 10)]
                if sent:
                    oldest = f"{time.time() - min(sent) / 1000:.0f}s"
            visible, flight, delayed = (attrs[c] for c in COUNTS)
            print(f"{name:<28} {visible:>8} {flight:>10} {delayed:>8} {oldest:>10}")
    print(
        "oldest: DLQs only (peeked); for work queues use CloudWatch ApproximateAgeOfOldestMessage"
    )
    return 0


def _describe(message: Any) -> str:
    try:
        body = json.loads(message["Body"])
        what = f"{body.get('type')} notification={body.get('notification_id')}"
    except (ValueError, AttributeError):
        what = "unparseable body"
    attrs = message.get("Attributes", {})
    sent = time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(attrs.get("SentTimestamp", 0)) / 1000)
    )
    receives = attrs.get("ApproximateReceiveCount")
    return f"{message['MessageId']}  sent {sent}  receives {receives}  {what}"


def _list(client: SQSClient, names: QueueNames, lane: str, limit: int) -> int:
    url = queue_url(client, names.dlq(_full(names, lane)))
    messages = _peek(client, url, limit)
    for message in messages:
        print(_describe(message))
    print(f"{len(messages)} message(s) shown from {names.dlq(_full(names, lane))}")
    return 0


def _redrive(client: SQSClient, names: QueueNames, lane: str, limit: int) -> int:
    """Receive from the DLQ, send to the source queue, and only then delete from the DLQ."""
    source = queue_url(client, _full(names, lane))
    dlq = queue_url(client, names.dlq(_full(names, lane)))
    moved = 0
    while moved < limit:
        response = client.receive_message(
            QueueUrl=dlq,
            MaxNumberOfMessages=min(MAX_BATCH, limit - moved),
            VisibilityTimeout=60,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            break
        sent = client.send_message_batch(
            QueueUrl=source,
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": m["Body"],
                    "MessageAttributes": m.get("MessageAttributes", {}),
                }
                for i, m in enumerate(messages)
            ],
        )
        ok = {int(s["Id"]) for s in sent.get("Successful", [])}
        if ok:
            client.delete_message_batch(
                QueueUrl=dlq,
                Entries=[{"Id": str(i), "ReceiptHandle": messages[i]["ReceiptHandle"]} for i in ok],
            )
        moved += len(ok)
        if len(ok) < len(messages):
            print(f"{len(messages) - len(ok)} message(s) could not be re-sent; left in the DLQ")
            break
    print(
        f"redrove {moved} message(s) from {names.dlq(_full(names, lane))} to {_full(names, lane)}"
    )
    return 0


def _purge(client: SQSClient, names: QueueNames, short: str, confirmed: bool) -> int:
    name = _full(names, short)
    if not confirmed:
        print(f"this deletes every message in {name}; add --yes-i-know to do it")
        return 2
    client.purge_queue(QueueUrl=queue_url(client, name))
    print(f"purged {name}")
    return 0
