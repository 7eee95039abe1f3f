"""Kinds of client input that once reached a place that could not hold them, against the
running ingest: text PostgreSQL cannot store (NUL, lone surrogates) in any query or path
parameter is a 422 naming the parameter, never a database error; every body refusal of such
text names its path; a coordinate ``float()`` reads as NaN or an infinity is off the globe,
at the door as at the sandbox."""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from tests.conftest import Stack, recipient
from tests.e2e.services import Services
from tests.ingest.test_template_door_accept import door, fresh, new_database, sandbox_catalogue

from ingest.templates import catalogue, sync
from notif_core.db import make_engine

pytestmark = pytest.mark.e2e
BAD = "a\x00b"


def _value(name: str, schema: dict[str, Any]) -> str:
    """A valid-looking value for a parameter the sweep does not test."""
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    return "100000000000001" if name == "phone_number_id" else "x"


def _strings(schema: dict[str, Any]) -> bool:
    """Whether a parameter takes free text (a string without a format or an enum)."""
    options = schema.get("anyOf", [schema])
    return any(o.get("type") == "string" and not ({"format", "enum"} & set(o)) for o in options)


def string_parameters(services: Services) -> list[tuple[str, str, str, str]]:
    """(method, path template, location, name) of every free-text query or path parameter
    of the API's operations, from its own OpenAPI document."""
    spec = httpx.get(services.url("ingest") + "/openapi.json").json()
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                where = parameter["in"]
                if where in ("query", "path") and _strings(parameter.get("schema", {})):
                    found.append((method, path, where, parameter["name"]))
    return found


def call(
    services: Services, key: str, method: str, path: str, where: str, name: str, value: str
) -> httpx.Response:
    """``method path`` with parameter ``name`` set to ``value``, the others harmless."""
    spec = httpx.get(services.url("ingest") + "/openapi.json").json()
    declared = spec["paths"][path][method].get("parameters", [])
    url = path
    for parameter in declared:
        if parameter["in"] == "path":
            given = value if parameter["name"] == name else _value(name, parameter["schema"])
            url = url.replace("{" + parameter["name"] + "}", quote(given, safe=""))
    params = {name: value} if where == "query" else {}
    return httpx.request(
        method.upper(),
        services.url("ingest") + url,
        params=params,
        headers={"X-API-Key": key},
        timeout=10,
    )


def test_nul_in_a_template_name_query_is_a_422_naming_it(services: Services, api_key: str) -> None:
    for value in ("\x00", BAD):
        response = httpx.get(
            services.url("ingest") + "/v1/templates",
            params={"name": value},
            headers={"X-API-Key": api_key},
        )
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert (error["code"], error["field"]) == ("validation_error", "query.name")
        assert "NUL" in error["message"] or "NUL" in error["fields"][0]["message"]


def test_nul_in_any_text_parameter_is_a_422_naming_it(services: Services, api_key: str) -> None:
    parameters = string_parameters(services)
    names = {(path, name) for _, path, _, name in parameters}
    # the parameters that reach SQL are among those swept (the sweep finds them itself)
    assert {
        ("/v1/templates", "name"),
        ("/v1/notifications", "cursor"),
        ("/v1/suppressions", "cursor"),
        ("/v1/suppressions/{recipient}", "recipient"),
        ("/v1/recipients/{recipient}", "recipient"),
        ("/v1/media/{media_id}", "media_id"),
        ("/v1/inbound", "from"),
    } <= names
    wrong = []
    for method, path, where, name in parameters:
        if path.startswith("/webhooks/"):
            continue  # Meta's verification handshake: compared, never stored
        response = call(services, api_key, method, path, where, name, BAD)
        error = response.json().get("error", {})
        if (response.status_code, error.get("field")) != (422, f"{where}.{name}"):
            wrong.append((method, path, name, response.status_code, error))
    assert not wrong, wrong


def test_a_cursor_whose_content_holds_a_nul_is_refused_as_not_ours(
    services: Services, api_key: str
) -> None:
    """A cursor is opaque base64: what it decodes to is client input too."""
    for path, parts in (
        ("/v1/suppressions", ["a\x00", "1", "all"]),
        ("/v1/notifications", ["2026-01-01T00:00:00+00:00", str(uuid.uuid4()) + "\x00"]),
        ("/v1/inbound", ["2026-01-01T00:00:00+00:00\x00", str(uuid.uuid4())]),
        ("/v1/callbacks", ["1\x00"]),
    ):
        cursor = base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")
        response = httpx.get(
            services.url("ingest") + path,
            params={"cursor": cursor},
            headers={"X-API-Key": api_key},
        )
        assert response.status_code in (400, 422), (path, response.text)
        assert response.json()["error"]["field"] in ("cursor", "query.cursor"), response.text


def send(services: Services, key: str, body: dict[str, Any] | bytes) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        services.url("ingest") + "/v1/notifications",
        content=content,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )


def template(**parts: Any) -> dict[str, Any]:
    return {"to": recipient(), "template": {"name": "order_update", "language": "en_US"} | parts}


TEXT = [{"type": "body", "parameters": [{"type": "text", "text": "A\ud800"}]}]
UNSTORABLE = [
    ("nul-in-name", template(name="order\x00update"), "template.name"),
    ("nul-in-language", template(language="en\x00US"), "template.language"),
    ("nul-in-language-code", template(language={"code": "en\x00US"}), "template.language.code"),
    (
        "surrogate-in-a-parameter",
        template(components=TEXT),
        "template.components.0.parameters.0.text",
    ),
    ("nul-in-text", {"to": recipient(), "text": {"body": "hi\x00"}}, "text.body"),
    ("nul-in-a-metadata-key", {**template(), "metadata": {"k\x00": 1}}, "metadata.k\\u0000"),
    ("surrogate-in-to", {"to": "+1415\udc00", "text": {"body": "x"}}, "to"),
]


@pytest.mark.parametrize(
    ("body", "field"), [c[1:] for c in UNSTORABLE], ids=[c[0] for c in UNSTORABLE]
)
def test_text_that_cannot_be_stored_is_refused_at_its_path(
    services: Services, api_key: str, body: dict[str, Any], field: str
) -> None:
    response = send(services, api_key, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", field)
    assert error["fields"][0]["type"] == "unstorable_text"
    assert "\x00" not in str(response.json())  # the answer is storable too (idempotency)

    batch = httpx.post(
        services.url("ingest") + "/v1/notifications/batch",
        content=json.dumps({"notifications": [template(), body]}).encode(),
        headers={"X-API-Key": api_key, "Content-Type": "application/json"},
    )
    assert batch.status_code == 422, batch.text
    assert batch.json()["error"]["field"] == f"notifications.1.{field}"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "+14155550101", "text": {"body": "x"}, "image": {"id": "1"}}, "image"),
        ({"to": "+14155550101", "audio": {"id": "1", "caption": "x"}}, "audio.caption"),
        ({"to": "+14155550101", "image": {"id": "1", "filename": "a.png"}}, "image.filename"),
        (
            {"to": "+14155550101", "text": {"body": "x"}, "ttl_seconds": 60}
            | {"expires_at": "2099-01-01T00:00:00Z"},
            "ttl_seconds",
        ),
        (
            {"to": "+14155550101", "text": {"body": "x"}, "send_at": "2099-01-01T00:00:00Z"},
            "send_at",
        ),
        (
            {"to": "+14155550101", "text": {"body": "x"}, "expires_at": "2000-01-01T00:00:00Z"},
            "expires_at",
        ),
        (
            {"to": "+14155550101", "text": {"body": "x"}, "biz_opaque_callback_data": "x"},
            "biz_opaque_callback_data",
        ),
        (template(components=[{"type": "b o d y"}]), "template.components.0.type"),
        (template(components=[{"type": "body\n"}]), "template.components.0.type"),
        (
            {"to": "+14155550101", "reaction": {"message_id": "wamid.X\n", "emoji": "👍"}},
            "reaction.message_id",
        ),
        (
            template(components=[{"type": "body", "parameters": "x"}]),
            "template.components.0.parameters",
        ),
    ],
    ids=[
        "two-kinds",
        "caption",
        "filename",
        "ttl-and-expiry",
        "send-at",
        "expired",
        "reserved",
        "component-type",
        "component-type-newline",
        "wamid-newline",
        "component-parameters",
    ],
)
def test_a_rule_about_one_field_names_it(
    services: Services, api_key: str, body: dict[str, Any], field: str
) -> None:
    response = send(services, api_key, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", field)


@pytest.mark.parametrize(
    "latitude",
    [10**400, "1e400", "nan", "NaN", "-inf", "Infinity", "12\n"],
    ids=["beyond-any-float", "1e400", "nan", "NaN", "-inf", "Infinity", "trailing-newline"],
)
def test_a_location_off_the_globe_is_a_422_never_a_5xx(
    services: Services, api_key: str, latitude: Any
) -> None:
    body = {"to": recipient(), "location": {"latitude": latitude, "longitude": 0}}
    response = send(services, api_key, body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "location.latitude"


PLACE = {
    "name": "pickup_point",
    "language": "en_US",
    "status": "APPROVED",
    "category": "UTILITY",
    "components": [
        {"type": "HEADER", "format": "LOCATION"},
        {"type": "BODY", "text": "Pick up your parcel here"},
    ],
}


def pickup(latitude: Any) -> dict[str, Any]:
    location = {"latitude": latitude, "longitude": "0", "name": "Desk", "address": "1 Way"}
    header = {"type": "header", "parameters": [{"type": "location", "location": location}]}
    return template(name="pickup_point", components=[header])


async def test_a_location_header_with_a_nan_coordinate_is_refused_at_the_door(
    stack: Stack, tmp_path: Path
) -> None:
    url, key = await new_database(stack, "input_kinds_place", tmp_path / "key")
    place = sync._definition("200000000000001", PLACE)
    assert place is not None
    engine = make_engine(url, pool_size=1)
    try:
        await catalogue.replace(engine, "200000000000001", [*sandbox_catalogue(), place])
    finally:
        await engine.dispose()
    async with door(url) as client:
        await fresh(client)
        fine = await client.post(
            "/v1/notifications", json=pickup("37.48"), headers={"X-API-Key": key}
        )
        assert fine.status_code == 202, fine.text
        for latitude in ("nan", "NaN", " nan ", "inf", "-Infinity", "1e999", True):
            answer = await client.post(
                "/v1/notifications", json=pickup(latitude), headers={"X-API-Key": key}
            )
            assert answer.status_code == 422, (latitude, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "invalid_template_parameters"
            assert error["field"] == "template.components[0].parameters[0].location.latitude"


def test_the_sweep_reads_every_operation(services: Services) -> None:
    """The sweep above is only as good as what it finds: at least the routes listed."""
    found = {path for _, path, _, _ in string_parameters(services)}
    assert len(found) >= 8
    assert all(re.match(r"^/(v1|webhooks)/", path) for path in found)
