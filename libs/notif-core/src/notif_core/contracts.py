"""Publishing the event contracts: JSON Schema per event and an AsyncAPI 3.0 document.

``python -m notif_core.contracts docs/events`` writes them; the test suite regenerates them
in memory and fails when the committed files differ.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from notif_core import events as ev

CHANNELS: dict[str, dict[str, Any]] = {
    "dispatchHigh": {
        "address": "{prefix}-dispatch-high",
        "description": "Dispatch commands for high-priority traffic (authentication/OTP).",
        "messages": [ev.NotificationAccepted],
        "producer": "ingest",
        "consumer": "dispatcher",
    },
    "dispatch": {
        "address": "{prefix}-dispatch",
        "description": "Dispatch commands for normal-priority traffic.",
        "messages": [ev.NotificationAccepted],
        "producer": "ingest",
        "consumer": "dispatcher",
    },
    "events": {
        "address": "{prefix}-events",
        "description": "Every lifecycle event, for the ledger to append and project.",
        "messages": list(ev.EVENT_TYPES),
        "producer": "ingest, dispatcher",
        "consumer": "ledger",
    },
}


def _pretty(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def build() -> dict[str, str]:
    """Relative path → file content, for every contract file."""
    _, top = models_json_schema(
        [(model, "validation") for model in ev.EVENT_TYPES],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = top["$defs"]
    messages = {
        model.__name__: {
            "name": model.model_fields["type"].default,
            "title": model.model_fields["type"].default,
            "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "",
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
        }
        for model in ev.EVENT_TYPES
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for name, spec in CHANNELS.items():
        refs = {
            m.__name__: {"$ref": f"#/components/messages/{m.__name__}"} for m in spec["messages"]
        }
        channels[name] = {
            "address": spec["address"],
            "description": spec["description"],
            "messages": refs,
            "bindings": {"sqs": {"bindingVersion": "0.3.0", "queue": {"name": spec["address"]}}},
        }
        for action, who in (("send", spec["producer"]), ("receive", spec["consumer"])):
            operations[f"{action}{name[0].upper()}{name[1:]}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{name}"},
                "summary": f"{who} {action}s on {spec['address']}",
                "messages": [{"$ref": f"#/channels/{name}/messages/{m}"} for m in refs],
            }
    asyncapi = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "whatsapp-notif events",
            "version": str(ev.SCHEMA_VERSION),
            "description": "Events the services exchange over Amazon SQS. Generated from "
            "notif_core.events; do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
    files = {"asyncapi.json": _pretty(asyncapi)}
    for model in ev.EVENT_TYPES:
        schema = model.model_json_schema(by_alias=True)
        files[f"schemas/{model.model_fields['type'].default}.json"] = _pretty(schema)
    return files


def write(target: Path) -> None:
    for relative, content in build().items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/events"))
