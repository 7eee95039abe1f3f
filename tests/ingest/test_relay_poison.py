"""The outbox relay never stops for one row: large rows are published in batches that fit
SQS's byte limit, rows SQS can never take are set aside with their reason, and their
notifications end ``failed``; everything behind them is published."""

from __future__ import annotations

import json

from prometheus_client import REGISTRY
from sqlalchemy import text
from tests.ingest.test_relay import RelayEnv, received_ids, relay_env

from ingest.notifications.cancel import cancelled_event
from ingest.relay import outbox
from ingest.relay.outbox import OutboxRelay
from ingest.settings import IngestSettings
from notif_core.db import make_engine
from notif_core.events import (
    AcceptedPayload,
    NotificationAccepted,
    NotificationSent,
    SentPayload,
    dump_event,
)
from notif_core.ids import new_id
from notif_core.sqs import Publisher, QueueDirectory, QueueNames, sqs_client

__all__ = ["relay_env"]


def accepted(components_bytes: int) -> NotificationAccepted:
    text_ = "x" * components_bytes
    return NotificationAccepted(
        producer="ingest",
        tenant_id=new_id(),
        notification_id=new_id(),
        payload=AcceptedPayload(
            to="+14155550101",
            message={
                "type": "template",
                "template": {
                    "name": "order_update",
                    "language": {"code": "en_US", "policy": "deterministic"},
                    "components": [
                        {"type": "body", "parameters": [{"type": "text", "text": text_}]}
                    ],
                },
            },
        ),
    )


async def relay_pass(env: RelayEnv) -> int:
    engine = make_engine(env.database_url, pool_size=1)
    try:
        async with sqs_client(IngestSettings(queue_prefix=env.prefix)) as sqs:
            relay = OutboxRelay(engine, Publisher(sqs), QueueDirectory(sqs, QueueNames(env.prefix)))
            return await relay.relay_once()
    finally:
        await engine.dispose()


async def insert_raw(env: RelayEnv, bodies: list[str]) -> None:
    """Rows as an older writer (or a bug) may have left them, bypassing the door."""
    engine = make_engine(env.database_url, pool_size=1)
    async with engine.begin() as conn:
        for body in bodies:
            await conn.execute(
                text("INSERT INTO ingest.outbox (queue, event_id, body) VALUES ('events', :e, :b)"),
                {"e": new_id(), "b": body},
            )
    await engine.dispose()


async def outbox_rows(env: RelayEnv) -> list[tuple[bool, str | None, str | None]]:
    engine = make_engine(env.database_url, pool_size=1)
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT published_at IS NOT NULL AS published, quarantine_reason, body "
                "FROM ingest.outbox ORDER BY id"
            )
        )
        result = [(r.published, r.quarantine_reason, r.body) for r in rows]
    await engine.dispose()
    return result


def quarantined(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "notif_quarantined_total", {"stage": "relay", "reason": reason}
    )
    return value or 0.0


async def test_ten_notifications_of_250_kb_claimed_together_are_all_published(
    relay_env: RelayEnv,
) -> None:
    events = [accepted(250_000) for _ in range(10)]
    engine = make_engine(relay_env.database_url, pool_size=1)
    async with engine.begin() as conn:
        await outbox.add_many(conn, [outbox.Pending("events", e) for e in events])
    await engine.dispose()

    assert await relay_pass(relay_env) == 10  # one pass claims all ten
    ids = await received_ids(relay_env.prefix, 10, within=20)
    assert sorted(ids) == sorted(str(e.event_id) for e in events)
    assert all(published for published, _, _ in await outbox_rows(relay_env))


async def test_a_stored_integer_beyond_64_bits_is_published_as_written(
    relay_env: RelayEnv,
) -> None:
    event = cancelled_event(new_id(), new_id(), "client")
    body = dump_event(event).replace('"reason":"client"', '"reason":"client","n":1' + "0" * 400)
    assert "0" * 400 in body
    await insert_raw(relay_env, [body])
    assert await relay_pass(relay_env) == 1
    ids = await received_ids(relay_env.prefix, 1, within=10)
    assert ids == [str(event.event_id)]


async def test_rows_no_parser_or_sqs_takes_are_set_aside_and_the_rest_flows(
    relay_env: RelayEnv,
) -> None:
    before_unparseable, before_large = quarantined("unparseable"), quarantined("too_large")
    good_before = cancelled_event(new_id(), new_id(), "client")
    too_large = accepted(300_000)  # past the door's check, as an older writer could have
    good_after = cancelled_event(new_id(), new_id(), "client")
    await insert_raw(
        relay_env,
        [dump_event(good_before), "not json {", dump_event(too_large), dump_event(good_after)],
    )

    handled = await relay_pass(relay_env)

    # the two good rows, the two set aside, and the failed event written for the large one
    assert handled == 4
    rows = await outbox_rows(relay_env)
    assert [(published, reason) for published, reason, _ in rows[:4]] == [
        (True, None),
        (False, "unparseable"),
        (False, "too_large"),
        (True, None),
    ]
    assert quarantined("unparseable") == before_unparseable + 1
    assert quarantined("too_large") == before_large + 1
    # the large notification's terminal event waits in the outbox for the next pass
    failed = json.loads(rows[4][2] or "{}")
    assert failed["type"] == "notification.failed"
    assert failed["notification_id"] == str(too_large.notification_id)
    assert failed["payload"]["error"]["code"] == "quarantined"

    assert await relay_pass(relay_env) == 1
    ids = await received_ids(relay_env.prefix, 3, within=10)
    assert sorted(ids) == sorted(
        [str(good_before.event_id), str(good_after.event_id), failed["event_id"]]
    )
    # a set-aside row is not claimed again
    assert await relay_pass(relay_env) == 0


async def test_a_status_too_large_to_travel_is_kept_without_failing_its_notification(
    relay_env: RelayEnv,
) -> None:
    status = NotificationSent(
        producer="ingest",
        notification_id=new_id(),
        payload=SentPayload(wamid="wamid." + "x" * 300_000),
    )
    await insert_raw(relay_env, [dump_event(status)])
    assert await relay_pass(relay_env) == 1
    rows = await outbox_rows(relay_env)
    assert [(published, reason) for published, reason, _ in rows] == [(False, "too_large")]
