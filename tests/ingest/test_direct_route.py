"""``api.direct``: a route resolved by hand answers bad requests as FastAPI's own dependency
solver does, in the same order (malformed JSON, then authentication, then field errors)."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, TypeAdapter
from starlette.responses import Response

from ingest.api.direct import OrjsonResponse, direct_route, header, json_body
from ingest.api.errors import ApiError, install_error_handlers


class Item(BaseModel):
    name: str = Field(max_length=5)
    count: int


def auth(token: str | None) -> str:
    if token != "secret":
        raise ApiError(401, "invalid_api_key", "No.")
    return token


def auth_dependency(x_token: Annotated[str | None, Header()] = None) -> str:
    return auth(x_token)


Trace = Annotated[str | None, Header(alias="Trace-Id", max_length=8)]
TRACE = TypeAdapter(Annotated[str, Field(max_length=8)])


async def endpoint(body: Item, token: str, trace: str | None) -> Response:
    return OrjsonResponse({"name": body.name, "count": body.count, "trace": trace})


async def ordinary(
    body: Item, token: Annotated[str, Depends(auth_dependency)], trace: Trace = None
) -> Response:
    return await endpoint(body, token, trace)


async def by_hand(request: Request) -> Response:
    body, errors = await json_body(request, Item)
    token = auth(request.headers.get("x-token"))
    trace, trace_errors = header(request, "Trace-Id", TRACE)
    if body is None or trace_errors:
        raise RequestValidationError(trace_errors + errors)
    return await endpoint(body, token, trace)


def make_app() -> FastAPI:
    router = APIRouter()
    router.add_api_route("/ordinary", ordinary, methods=["POST"])
    router.add_api_route(
        "/direct", ordinary, methods=["POST"], route_class_override=direct_route(by_hand)
    )
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return app


GOOD = {"x-token": "secret", "content-type": "application/json"}
CASES: list[tuple[str, bytes, dict[str, str]]] = [
    ("valid", b'{"name": "ab", "count": 3}', GOOD | {"trace-id": "t1"}),
    ("malformed", b'{"name": "ab", ', GOOD),
    ("malformed, no key", b'{"name": ', {"content-type": "application/json"}),
    ("empty body", b"", GOOD),
    ("fields wrong", b'{"name": "toolong", "count": "x"}', GOOD),
    ("fields wrong, no key", b'{"name": "toolong"}', {"content-type": "application/json"}),
    ("missing field", b'{"name": "ab"}', GOOD),
    ("extra nesting", b'{"name": {"a": 1}, "count": [1]}', GOOD),
    ("header and body wrong", b'{"count": 1}', GOOD | {"trace-id": "x" * 9}),
    ("header wrong", b'{"name": "ab", "count": 1}', GOOD | {"trace-id": "x" * 9}),
    ("not an object", b"[1, 2]", GOOD),
    ("NaN", b'{"name": "a", "count": NaN}', GOOD),
    ("not UTF-8", b'{"name": "\xff", "count": 1}', GOOD),
    ("trailing garbage", b'{"name": "a", "count": 1} x', GOOD),
]


def comparable(response: httpx.Response) -> tuple[int, Any]:
    """Status and body; for validation errors the fields named, not pydantic's wording (its
    JSON and Python modes word a non-object body differently)."""
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    if error and "fields" in error:
        error = {**error, "fields": [f["field"] for f in error["fields"]]}
        return response.status_code, {"error": error}
    return response.status_code, body


@pytest.mark.parametrize(("case", "content", "headers"), CASES, ids=[c[0] for c in CASES])
async def test_answers_match_fastapis_solver(
    case: str, content: bytes, headers: dict[str, str]
) -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        expected = await client.post("/ordinary", content=content, headers=headers)
        actual = await client.post("/direct", content=content, headers=headers)
    assert comparable(actual) == comparable(expected), case
    assert expected.status_code in (200, 400, 401, 422)
    if case != "valid":
        assert actual.status_code != 200


def test_the_openapi_operation_is_the_ordinary_one() -> None:
    paths = make_app().openapi()["paths"]
    ordinary_op, direct_op = paths["/ordinary"]["post"], paths["/direct"]["post"]
    for key in ("parameters", "requestBody", "responses"):
        assert direct_op[key] == ordinary_op[key]
