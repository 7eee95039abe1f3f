"""Template sends over real HTTP: flow, catalog and multi-product buttons, components the
template does not configure, the case of ``type``/``sub_type``, and button indexes."""

from __future__ import annotations

from typing import Any

import pytest
from tests.wa_sandbox.conftest import TOKEN, WABA_ID, Client
from tests.wa_sandbox.test_send_endpoint import error_of, template
from tests.wa_sandbox.test_template_rules import text_params

THUMBNAIL = "2lc20305pt"
SECTIONS = [{"title": "Popular", "product_items": [{"product_retailer_id": THUMBNAIL}]}]


def button(sub_type: str, index: Any = "0", parameters: list[Any] | None = None) -> dict[str, Any]:
    component: dict[str, Any] = {"type": "button", "sub_type": sub_type, "index": index}
    if parameters is not None:
        component["parameters"] = parameters
    return component


def action(**fields: Any) -> list[dict[str, Any]]:
    return [{"type": "action", "action": fields}]


def flow(*buttons: dict[str, Any]) -> dict[str, Any]:
    return template("flow_signup", [{"type": "body", "parameters": text_params("Ana")}, *buttons])


def catalog(*buttons: dict[str, Any]) -> dict[str, Any]:
    return template(
        "catalog_offer", [{"type": "body", "parameters": text_params("SAVE10")}, *buttons]
    )


def picks(*buttons: dict[str, Any]) -> dict[str, Any]:
    return template("product_picks", [{"type": "body", "parameters": text_params("Ana")}, *buttons])


def mpm(**fields: Any) -> dict[str, Any]:
    return picks(button("mpm", parameters=action(**fields)))


def shipped(*extra: dict[str, Any], sub_type: str = "url", index: Any = "0") -> dict[str, Any]:
    return template(
        "order_shipped",
        [
            {
                "type": "header",
                "parameters": [{"type": "image", "image": {"link": "https://e.com/a.png"}}],
            },
            {"type": "body", "parameters": text_params("Ana", "A-1")},
            button(sub_type, index, text_params("A-1")),
            *extra,
        ],
    )


def update(*extra: dict[str, Any]) -> dict[str, Any]:
    return template("order_update", [{"type": "body", "parameters": text_params("A-1")}, *extra])


@pytest.fixture(autouse=True)
async def no_pair_limit(sandbox: Client) -> None:
    await sandbox.configure({"pair_limit": {"per_seconds": 0}})


async def assert_accepted(sandbox: Client, bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        response = await sandbox.send(body)
        assert response.status_code == 200, (body, response.text)
    messages = (await sandbox.http.get("/_sandbox/messages")).json()["messages"]
    assert len(messages) == len(bodies)


async def assert_refused(sandbox: Client, body: dict[str, Any], code: int) -> dict[str, Any]:
    response = await sandbox.send(body)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == code, error
    return error


# --- flow, catalog and multi-product buttons ------------------------------------------------


async def test_flow_catalog_and_mpm_buttons_take_metas_action_parameters(sandbox: Client) -> None:
    await assert_accepted(
        sandbox,
        [
            flow(),  # optional, like a quick reply
            flow(button("flow", parameters=[])),
            flow(
                button(
                    "flow",
                    parameters=action(
                        flow_token="signup-7", flow_action_data={"screen": "WELCOME_SCREEN"}
                    ),
                )
            ),
            flow(button("flow", parameters=action())),
            catalog(),
            catalog(button("catalog", parameters=action(thumbnail_product_retailer_id=THUMBNAIL))),
            mpm(thumbnail_product_retailer_id=THUMBNAIL, sections=SECTIONS),
        ],
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (flow(button("flow", parameters=text_params("signup"))), 132012),
        (flow(button("flow", parameters=[{"type": "action", "action": "signup"}])), 132012),
        (flow(button("flow", parameters=action() * 2)), 132000),
        (catalog(button("catalog", parameters=[{"type": "payload", "payload": "x"}])), 132012),
        (catalog(button("catalog", parameters=[{"type": "action"}])), 132012),
        (picks(), 132000),  # the multi-product button is required
        (picks(button("mpm", parameters=[])), 132000),
        (mpm(sections=SECTIONS), 132012),
        (mpm(thumbnail_product_retailer_id="", sections=SECTIONS), 132012),
        (mpm(thumbnail_product_retailer_id=THUMBNAIL), 132012),
        (mpm(thumbnail_product_retailer_id=THUMBNAIL, sections=[]), 132012),
        (mpm(thumbnail_product_retailer_id=THUMBNAIL, sections={"title": "x"}), 132012),
        (picks(button("mpm", parameters=text_params(THUMBNAIL))), 132012),
        (flow(button("url", parameters=text_params("x"))), 132012),  # it is a flow button
    ],
)
async def test_action_buttons_of_the_wrong_shape_get_metas_codes(
    sandbox: Client, body: dict[str, Any], code: int
) -> None:
    error = await assert_refused(sandbox, body, code)
    assert "button 0" in error["error_data"]["details"]


async def test_the_catalogue_lists_flow_catalog_and_mpm_buttons(sandbox: Client) -> None:
    response = await sandbox.http.get(
        f"/v21.0/{WABA_ID}/message_templates", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200, response.text
    listed = {t["name"]: t for t in response.json()["data"]}

    def buttons(name: str) -> list[dict[str, Any]]:
        assert listed[name]["category"] == "MARKETING"
        last = listed[name]["components"][-1]
        assert last["type"] == "BUTTONS"
        found: list[dict[str, Any]] = last["buttons"]
        return found

    (flow_button,) = buttons("flow_signup")
    assert flow_button["type"] == "FLOW"
    assert flow_button["text"] == "Sign up"
    assert flow_button["flow_id"].isdigit()
    assert (flow_button["flow_action"], flow_button["navigate_screen"]) == (
        "navigate",
        "WELCOME_SCREEN",
    )
    assert buttons("catalog_offer") == [{"type": "CATALOG", "text": "View catalog"}]
    assert buttons("product_picks") == [{"type": "MPM", "text": "View items"}]
    header = listed["product_picks"]["components"][0]
    assert header == {"type": "HEADER", "format": "TEXT", "text": "Picked for you"}


# --- components the template does not configure --------------------------------------------


async def test_components_without_parameters_or_unknown_to_the_sandbox_pass(
    sandbox: Client,
) -> None:
    offer = {
        "type": "limited_time_offer",
        "parameters": [
            {
                "type": "limited_time_offer",
                "limited_time_offer": {"expiration_time_ms": 1_209_600_000},
            }
        ],
    }
    carousel = {
        "type": "carousel",
        "cards": [{"card_index": 0, "components": [{"type": "body", "parameters": []}]}],
    }
    await assert_accepted(
        sandbox,
        [
            update(offer),
            update(carousel),
            update({"type": "footer"}),
            update({"type": "header", "parameters": []}),
            update(button("quick_reply", 2, [])),
            template("hello_world", [{"type": "body"}, {"type": "footer", "parameters": []}]),
        ],
    )


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({"type": "footer", "parameters": text_params("x")}, "footer"),
        ({"type": "header", "parameters": text_params("Tuesday")}, "header"),
        (button("quick_reply", 2, [{"type": "payload", "payload": "P"}]), "button 2"),
    ],
)
async def test_parameters_the_template_has_no_place_for_are_132000(
    sandbox: Client, extra: dict[str, Any], where: str
) -> None:
    error = await assert_refused(sandbox, update(extra), 132000)
    assert where in error["error_data"]["details"]


# --- case of type and sub_type ---------------------------------------------------------------


async def test_type_and_sub_type_are_read_in_any_case(sandbox: Client) -> None:
    await assert_accepted(
        sandbox,
        [
            shipped(sub_type="URL"),
            shipped(sub_type="Url"),
            template(
                "appointment_reminder",
                [
                    {"type": "HEADER", "parameters": text_params("Tuesday")},
                    {"type": "Body", "parameters": text_params("Ana", "10:30")},
                    {"type": "BUTTON", "sub_type": "QUICK_REPLY", "index": "1", "parameters": []},
                ],
            ),
            picks(
                button(
                    "MPM",
                    parameters=action(thumbnail_product_retailer_id=THUMBNAIL, sections=SECTIONS),
                )
            ),
        ],
    )
    # Another kind of button at the index is still refused, in whatever case.
    await assert_refused(sandbox, shipped(sub_type="QUICK_REPLY"), 132012)


async def test_a_configured_sub_type_is_read_in_any_case(sandbox: Client) -> None:
    templates = [t.model_dump() for t in sandbox.running.sandbox.config.templates]
    templates.append(
        {
            "name": "upper_case_button",
            "language": "en_US",
            "category": "utility",
            "components": [{"type": "button", "sub_type": "URL", "index": 0, "parameters": 1}],
        }
    )
    assert (await sandbox.configure({"templates": templates})).status_code == 200
    sent = template("upper_case_button", [button("url", 0, text_params("x"))])
    await assert_accepted(sandbox, [sent])
    await assert_refused(sandbox, template("upper_case_button", []), 132000)


# --- button indexes ---------------------------------------------------------------------------


async def test_a_button_without_an_index_is_131008(sandbox: Client) -> None:
    missing = {"type": "button", "sub_type": "url", "parameters": text_params("A-1")}
    for component in (missing, {**missing, "index": None}):
        body = template(
            "order_shipped",
            [
                {
                    "type": "header",
                    "parameters": [{"type": "image", "image": {"link": "https://e.com/a.png"}}],
                },
                {"type": "body", "parameters": text_params("Ana", "A-1")},
                component,
            ],
        )
        error = await assert_refused(sandbox, body, 131008)
        assert error["message"] == "(#131008) Required parameter is missing"
        assert "index" in error["error_data"]["details"]


NOT_ASCII_NUMBERS = ["\u0663", "\u0660", "0\u0660", "\uff11", "\u00b2"]
"""Arabic-Indic three and zero, a full-width one, a superscript two: digits to str.isdigit."""


@pytest.mark.parametrize(
    "index", [*NOT_ASCII_NUMBERS, "100", 100, -1, "-1", "x", "", " 1", 0.0, True, [0]]
)
async def test_a_button_index_that_is_not_an_ascii_number_under_100_is_100(
    sandbox: Client, index: Any
) -> None:
    error = await assert_refused(sandbox, shipped(index=index), 100)
    assert error["message"] == "(#100) Invalid parameter"
    assert "index" in error["error_data"]["details"]


async def test_ascii_indexes_as_strings_or_integers_are_accepted(sandbox: Client) -> None:
    await assert_accepted(sandbox, [shipped(index=0), shipped(index="0"), shipped(index="00")])
