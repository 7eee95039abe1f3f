"""Template buttons at the door: every button type Meta's templates carry, sent as Meta's
guides send it, passes; one the door does not know passes too (Meta decides); a flow,
catalog or multi-product button sent in the wrong shape is refused at its path."""

from __future__ import annotations

from typing import Any

import pytest
from tests.ingest.test_template_validation import fits_or_is_refused_at

from ingest.templates.definition import Definition


def with_buttons(*buttons: dict[str, Any], category: str = "MARKETING") -> Definition:
    components: list[dict[str, Any]] = [
        {"type": "BODY", "text": "Hello"},
        {"type": "BUTTONS", "buttons": list(buttons)},
    ]
    return Definition(
        "200000000000001", "buttons", "en_US", category, "APPROVED", components=components
    )


def button(sub_type: str, index: Any, *parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "button", "sub_type": sub_type, "index": index, "parameters": list(parameters)}


def action(**fields: Any) -> dict[str, Any]:
    return {"type": "action", "action": fields}


FLOW = with_buttons({"type": "FLOW", "text": "Sign up", "flow_id": "1", "flow_action": "navigate"})
CATALOG = with_buttons({"type": "CATALOG", "text": "View catalog"})
MPM = with_buttons({"type": "MPM", "text": "View items"})
SECTIONS = [{"title": "Popular", "product_items": [{"product_retailer_id": "SKU-1"}]}]
NEWER = with_buttons(
    {"type": "VOICE_CALL", "text": "Call us"},
    {"type": "APP", "text": "Open"},
    {"type": "QUICK_REPLY", "text": "Stop"},
)
ONE_TAP = with_buttons(
    {"type": "OTP", "otp_type": "ONE_TAP", "package_name": "com.example"},
    category="AUTHENTICATION",
)
PHONE = with_buttons({"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550001111"})
B0 = "template.components[0]"

CASES: list[tuple[str, Definition, list[dict[str, Any]], str | None]] = [
    ("flow left out", FLOW, [], None),
    (
        "flow with token and data",
        FLOW,
        [
            button(
                "flow",
                "0",
                action(flow_token="t-1", flow_action_data={"screen": "WELCOME", "data": {}}),
            )
        ],
        None,
    ),
    ("flow with token only", FLOW, [button("flow", 0, action(flow_token="unused"))], None),
    ("flow with no parameters", FLOW, [button("flow", "0")], None),
    (
        "flow action as a string",
        FLOW,
        [button("flow", "0", {"type": "action", "action": "t-1"})],
        f"{B0}.parameters[0].action",
    ),
    (
        "flow sent a payload",
        FLOW,
        [button("flow", "0", {"type": "payload", "payload": "x"})],
        f"{B0}.parameters[0].type",
    ),
    (
        "flow with two actions",
        FLOW,
        [button("flow", "0", action(flow_token="a"), action(flow_token="b"))],
        f"{B0}.parameters",
    ),
    (
        "flow sent as a quick reply",
        FLOW,
        [button("quick_reply", "0", {"type": "payload", "payload": "x"})],
        f"{B0}.sub_type",
    ),
    ("catalog left out", CATALOG, [], None),
    (
        "catalog with a thumbnail",
        CATALOG,
        [button("catalog", "0", action(thumbnail_product_retailer_id="SKU-1"))],
        None,
    ),
    ("catalog with an empty action", CATALOG, [button("catalog", "0", action())], None),
    (
        "catalog action as a list",
        CATALOG,
        [button("catalog", "0", {"type": "action", "action": ["SKU-1"]})],
        f"{B0}.parameters[0].action",
    ),
    (
        "multi-product",
        MPM,
        [button("mpm", "0", action(thumbnail_product_retailer_id="SKU-1", sections=SECTIONS))],
        None,
    ),
    ("multi-product left out", MPM, [], "template.components"),
    ("multi-product without its action", MPM, [button("mpm", "0")], f"{B0}.parameters"),
    (
        "multi-product without sections",
        MPM,
        [button("mpm", "0", action(thumbnail_product_retailer_id="SKU-1"))],
        f"{B0}.parameters[0].action.sections",
    ),
    (
        "multi-product without a thumbnail",
        MPM,
        [button("mpm", "0", action(sections=SECTIONS))],
        f"{B0}.parameters[0].action.thumbnail_product_retailer_id",
    ),
    ("newer button types left out", NEWER, [], None),
    (
        "newer button types sent with parameters",
        NEWER,
        [
            button("voice_call", "0", {"type": "ttl_minutes", "ttl_minutes": 60}),
            button("app", "1", {"type": "action", "action": {}}),
        ],
        None,
    ),
    ("one-tap code", ONE_TAP, [button("url", "0", {"type": "text", "text": "123456"})], None),
    (
        "phone button sent a parameter",
        PHONE,
        [button("phone_number", "0", {"type": "text", "text": "x"})],
        f"{B0}.parameters",
    ),
]


@pytest.mark.parametrize(
    ("template", "components", "path"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_button_fits_its_template_or_is_refused_at_the_path(
    template: Definition, components: list[dict[str, Any]], path: str | None
) -> None:
    fits_or_is_refused_at(template, components, path)
