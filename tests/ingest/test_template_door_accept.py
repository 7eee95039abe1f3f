"""The door's template check as a tenant sees it, in-process on a database of its own with
the sandbox's catalogue: Meta's category replaces the tenant's hint and picks the lane; a
replay answers the first answer even after the template stopped; a batch item refused for
its status says which; a number SENDER_WABAS does not list is not checked against another
business's catalogue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack, recipient

from ingest.main import create_app
from ingest.settings import IngestSettings
from ingest.templates import catalogue, sync
from ingest.templates.definition import Definition
from notif_core.db import make_engine
from notif_local.devtenant import ensure_dev_key
from wa_sandbox.config import load
from wa_sandbox.management import definition

WABA = "200000000000001"
OTHER_NUMBER = "100000000000009"


def sandbox_catalogue() -> list[Definition]:
    config = load()
    found = [sync._definition(WABA, definition(t)) for t in config.templates]
    return [d for d in found if d is not None]


@asynccontextmanager
async def door(database_url: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(IngestSettings(database_url=database_url, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            yield client


async def fresh(client: httpx.AsyncClient) -> None:
    """Bring the door's copy up to date now, as its background loop does every 5 s."""
    app: Any = client._transport.app  # type: ignore[attr-defined]
    await app.state.notif.catalogue.refresh()


async def new_database(
    stack: Stack, label: str, key_file: Path, sender: str | None = None
) -> tuple[str, str]:
    url = await asyncio.to_thread(stack.new_database, label, migrated=True)
    key = await asyncio.to_thread(ensure_dev_key, url, key_file, sender)
    engine = make_engine(url, pool_size=1)
    try:
        await catalogue.replace(engine, WABA, sandbox_catalogue())
    finally:
        await engine.dispose()
    return url, key


def otp(category: str | None = None, priority: str | None = None) -> dict[str, Any]:
    template: dict[str, Any] = {
        "name": "otp_code",
        "language": "en_US",
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
            {
                "type": "button",
                "sub_type": "url",
                "index": "0",
                "parameters": [{"type": "text", "text": "123456"}],
            },
        ],
    }
    if category is not None:
        template["category"] = category
    body: dict[str, Any] = {"to": recipient(), "template": template}
    if priority is not None:
        body["priority"] = priority
    return body


async def accepted(engine: AsyncEngine, nid: str) -> tuple[str, str | None, set[str]]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT body::jsonb->'payload'->>'priority' AS priority, "
                    "body::jsonb->'payload'->>'category' AS category FROM ingest.outbox "
                    "WHERE queue = 'events' AND body::jsonb->>'notification_id' = :id "
                    "AND body::jsonb->>'type' = 'notification.accepted'"
                ),
                {"id": nid},
            )
        ).one()
        queues = set(
            (
                await conn.execute(
                    text(
                        "SELECT queue FROM ingest.outbox "
                        "WHERE body::jsonb->>'notification_id' = :id"
                    ),
                    {"id": nid},
                )
            ).scalars()
        )
    return row.priority, row.category, queues


async def test_meta_category_sets_the_lane_and_corrects_the_hint(
    stack: Stack, tmp_path: Path
) -> None:
    url, key = await new_database(stack, "door_category", tmp_path / "key")
    headers = {"X-API-Key": key}
    engine = make_engine(url, pool_size=1)
    try:
        async with door(url) as client:
            # an authentication template without a hint: Meta's category, the high lane
            answer = await client.post("/v1/notifications", json=otp(), headers=headers)
            assert answer.status_code == 202, answer.text
            priority, category, queues = await accepted(engine, answer.json()["id"])
            assert (priority, category) == ("high", "authentication")
            assert "dispatch_high" in queues

            # a priority the tenant set stands
            answer = await client.post(
                "/v1/notifications", json=otp(priority="normal"), headers=headers
            )
            priority, category, queues = await accepted(engine, answer.json()["id"])
            assert (priority, category) == ("normal", "authentication")
            assert "dispatch_high" not in queues

            # a wrong hint is corrected: "utility" on a marketing template is marketing
            body = {
                "to": recipient(),
                "template": {
                    "name": "spring_sale",
                    "language": "en_US",
                    "category": "utility",
                    "components": [
                        {"type": "body", "parameters": [{"type": "text", "text": "20%"}]}
                    ],
                },
            }
            answer = await client.post("/v1/notifications", json=body, headers=headers)
            assert answer.status_code == 202, answer.text
            priority, category, _ = await accepted(engine, answer.json()["id"])
            assert (priority, category) == ("normal", "marketing")

            # and in a batch too
            answer = await client.post(
                "/v1/notifications/batch", json={"notifications": [otp("utility")]}, headers=headers
            )
            (item,) = answer.json()["results"]
            priority, category, _ = await accepted(engine, item["id"])
            assert (priority, category) == ("high", "authentication")
    finally:
        await engine.dispose()


async def test_a_replay_answers_first_even_after_the_template_stopped(
    stack: Stack, tmp_path: Path
) -> None:
    url, key = await new_database(stack, "door_replay", tmp_path / "key")
    engine = make_engine(url, pool_size=1)
    try:
        async with door(url, template_unavailable="fail") as client:
            single = {"X-API-Key": key, "Idempotency-Key": "replay-one"}
            batch = {"X-API-Key": key, "Idempotency-Key": "replay-batch"}
            body = otp()
            items = {"notifications": [otp(), otp()]}
            first = await client.post("/v1/notifications", json=body, headers=single)
            assert first.status_code == 202, first.text
            first_batch = await client.post("/v1/notifications/batch", json=items, headers=batch)
            assert [r["status"] for r in first_batch.json()["results"]] == ["accepted"] * 2

            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "UPDATE ingest.templates SET status = 'PAUSED', "
                        "updated_at = clock_timestamp() WHERE name = 'otp_code'"
                    )
                )
            await fresh(client)
            # a new request is refused now...
            refused = await client.post("/v1/notifications", json=otp(), headers={"X-API-Key": key})
            assert refused.status_code == 422
            assert refused.json()["error"]["template_status"] == "PAUSED"
            refused_batch = await client.post(
                "/v1/notifications/batch",
                json={"notifications": [otp()]},
                headers={"X-API-Key": key},
            )
            (item,) = refused_batch.json()["results"]
            assert item["error"]["code"] == "template_not_approved"
            assert item["error"]["template_status"] == "PAUSED"

            # ...but a replay answers what the first request got
            again = await client.post("/v1/notifications", json=body, headers=single)
            assert again.status_code == 202, again.text
            assert again.json() == first.json()
            assert again.headers["Idempotent-Replayed"] == "true"
            again_batch = await client.post("/v1/notifications/batch", json=items, headers=batch)
            assert again_batch.status_code == 202
            assert again_batch.json() == first_batch.json()
            assert again_batch.headers["Idempotent-Replayed"] == "true"

            # the same key with another body is still refused
            other = await client.post("/v1/notifications", json=otp(), headers=single)
            assert other.status_code == 422
            assert other.json()["error"]["code"] == "idempotency_key_reused"
    finally:
        await engine.dispose()


async def test_a_number_sender_wabas_does_not_list_is_not_checked(
    stack: Stack, tmp_path: Path
) -> None:
    url, key = await new_database(stack, "door_wabas", tmp_path / "key", sender=OTHER_NUMBER)
    headers = {"X-API-Key": key}
    unknown = {"to": recipient(), "template": {"name": "no_such_template", "language": "en_US"}}
    # one business: every number is WHATSAPP_WABA_ID's, so its catalogue checks the send
    async with door(url) as client:
        answer = await client.post("/v1/notifications", json=unknown, headers=headers)
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "unknown_template"
    # several: a number SENDER_WABAS does not list is nobody's here, so it is not checked
    async with door(url, sender_wabas=f"100000000000002:{WABA}") as client:
        answer = await client.post("/v1/notifications", json=unknown, headers=headers)
        assert answer.status_code == 202, answer.text
        listed = await client.get("/v1/templates", headers=headers)
        assert listed.json()["items"] == []
    # listed, it is its business account's again
    async with door(url, sender_wabas=f"{OTHER_NUMBER}:{WABA}") as client:
        answer = await client.post("/v1/notifications", json=unknown, headers=headers)
        assert answer.status_code == 422
