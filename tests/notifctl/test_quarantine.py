"""notifctl quarantine list/retry/drop on dispatcher and ledger items: retry sends the stored
body back to its queue and forgets the item, drop forgets it, lines carry no body unless
asked."""

from __future__ import annotations

import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack
from tests.notifctl.cli import notifctl

from notif_core import quarantine
from notif_core.ids import new_id
from notif_core.settings import CoreSettings
from notif_core.sqs import QueueNames, provision_queues, sqs_client

pytestmark = pytest.mark.e2e


async def store(engine: AsyncEngine, schema: str, queue: str, body: str) -> int:
    item = quarantine.Item(
        queue=queue,
        message_id=str(new_id()),
        body=body,
        reason="invalid_event",
        detail="payload.to: Field required",
        receive_count=1,
        notification_id=new_id(),
    )
    async with engine.begin() as conn:
        return await quarantine.insert(conn, quarantine.table(MetaData(schema=schema)), item)


async def test_list_retry_and_drop(stack: Stack, engine: AsyncEngine) -> None:
    prefix = f"qctl{new_id().hex[-8:]}"  # queues no running consumer reads
    names = QueueNames(prefix)
    async with sqs_client(CoreSettings()) as client:
        urls = await provision_queues(client, names, max_receive_count=5)
    body = '{"secret_body": "+14155550100"}'
    dispatch_item = await store(engine, "dispatcher", names.dispatch, body)
    ledger_item = await store(engine, "ledger", names.events, body)

    listed = notifctl(stack, prefix, "quarantine", "list", "--stage", "dispatcher")
    assert listed.returncode == 0, listed.stderr
    [line] = [
        ln
        for ln in listed.stdout.splitlines()
        if ln.split()[:2] == ["dispatcher", str(dispatch_item)]
    ]
    assert "invalid_event" in line
    assert "secret_body" not in listed.stdout
    assert "4155550100" not in listed.stdout
    everything = notifctl(stack, prefix, "quarantine", "list", "--show-body")
    assert everything.returncode == 0, everything.stderr
    assert any(
        ln.split()[:2] == ["ledger", str(ledger_item)] for ln in everything.stdout.splitlines()
    )
    assert "secret_body" in everything.stdout

    retried = notifctl(stack, prefix, "quarantine", "retry", "dispatcher", str(dispatch_item))
    assert retried.returncode == 0, retried.stderr
    async with sqs_client(CoreSettings()) as client:
        got = await client.receive_message(QueueUrl=urls[names.dispatch], WaitTimeSeconds=2)
    assert [m["Body"] for m in got.get("Messages", [])] == [body]
    again = notifctl(stack, prefix, "quarantine", "retry", "dispatcher", str(dispatch_item))
    assert again.returncode == 1

    dropped = notifctl(stack, prefix, "quarantine", "drop", "ledger", str(ledger_item))
    assert dropped.returncode == 0, dropped.stderr
    after = notifctl(stack, prefix, "quarantine", "list", "--stage", "ledger", "--limit", "1000")
    assert not [
        ln for ln in after.stdout.splitlines() if ln.split()[:2] == ["ledger", str(ledger_item)]
    ]
    async with sqs_client(CoreSettings()) as client:
        events = await client.receive_message(QueueUrl=urls[names.events], WaitTimeSeconds=1)
    assert events.get("Messages", []) == []  # drop sends nothing anywhere
