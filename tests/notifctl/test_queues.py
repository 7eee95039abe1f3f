"""notifctl queues/dlq against the local SQS endpoint: stats, list, redrive, purge."""

from __future__ import annotations

import pytest
from tests.conftest import Stack
from tests.notifctl.cli import notifctl

from notif_core import events as ev
from notif_core.ids import new_id
from notif_core.settings import CoreSettings
from notif_core.sqs import Publisher, QueueNames, provision_queues, sqs_client

pytestmark = pytest.mark.e2e


async def test_stats_list_redrive_and_purge(stack: Stack) -> None:
    prefix = f"ctl{new_id().hex[-8:]}"
    names = QueueNames(prefix)
    events = [
        ev.NotificationSent(
            producer="t", notification_id=new_id(), payload=ev.SentPayload(wamid="w")
        )
        for _ in range(3)
    ]
    async with sqs_client(CoreSettings()) as client:
        urls = await provision_queues(client, names, max_receive_count=5)
        await Publisher(client).publish(urls[names.dlq(names.dispatch)], events)
    stats = notifctl(stack, prefix, "queues", "stats")
    assert stats.returncode == 0, stats.stderr
    dlq_line = next(
        line for line in stats.stdout.splitlines() if line.startswith(f"{prefix}-dispatch-dlq")
    )
    assert dlq_line.split()[1] == "3"
    listed = notifctl(stack, prefix, "dlq", "list", "--queue", "dispatch")
    assert listed.stdout.count("notification.sent") == 3
    redriven = notifctl(stack, prefix, "dlq", "redrive", "--queue", "dispatch", "--limit", "2")
    assert "redrove 2 message(s)" in redriven.stdout
    after = notifctl(stack, prefix, "queues", "stats").stdout
    rows = {line.split()[0]: line.split()[1] for line in after.splitlines()[1:-1]}
    assert rows[f"{prefix}-dispatch"] == "2"
    assert rows[f"{prefix}-dispatch-dlq"] == "1"
    refused = notifctl(stack, prefix, "queues", "purge", "dispatch")
    assert refused.returncode == 2
    assert notifctl(stack, prefix, "queues", "purge", "dispatch", "--yes-i-know").returncode == 0
    rows = {
        line.split()[0]: line.split()[1]
        for line in notifctl(stack, prefix, "queues", "stats").stdout.splitlines()[1:-1]
    }
    assert rows[f"{prefix}-dispatch"] == "0"
