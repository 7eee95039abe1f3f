"""docs/events must be what the models generate: regenerate with ``make contracts``."""

from __future__ import annotations

import json
from pathlib import Path

from notif_core import contracts
from notif_core.events import EVENT_TYPES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events"


def test_committed_contracts_are_current() -> None:
    generated = contracts.build()
    stale = [
        path
        for path, content in generated.items()
        if not (DOCS / path).exists() or (DOCS / path).read_text() != content
    ]
    assert stale == [], f"stale contract files (run `make contracts`): {stale}"
    on_disk = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.json")}
    assert on_disk == set(generated), "docs/events holds files the models no longer generate"


def test_asyncapi_names_queues_as_channels_and_every_event() -> None:
    doc = json.loads(contracts.build()["asyncapi.json"])
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {"{prefix}-dispatch", "{prefix}-dispatch-high", "{prefix}-events"}
    assert set(doc["components"]["messages"]) == {m.__name__ for m in EVENT_TYPES}
    for op in doc["operations"].values():
        assert op["channel"]["$ref"].removeprefix("#/channels/") in doc["channels"]
