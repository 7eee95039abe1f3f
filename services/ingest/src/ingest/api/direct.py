"""Routes whose request handling is written out by hand, for the hottest path.

FastAPI's dependency solver is general: per request it walks the dependency tree, builds
cache keys, checks security scopes and validates each parameter through its own field
wrapper. Under load that machinery took about a fifth of ingest's CPU per accepted
notification, more than the work it resolved. A ``direct_route(handler)`` route keeps
everything else of FastAPI (routing, exception handlers, and the OpenAPI operation it builds
from the endpoint's signature), but hands each request to ``handler``, which resolves the
same parameters explicitly and calls the endpoint.

The helpers below give the answers FastAPI's solver gives: the same ``RequestValidationError``
entries (``loc`` starting ``body`` or ``header``), malformed JSON rejected before anything
else, and validation errors raised only after the dependencies (authentication) ran.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import orjson
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ingest.api.errors import FASTAPI_UNPARSEABLE_BODY

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
Model = TypeVar("Model", bound=BaseModel)


def direct_route(handler: Handler) -> type[APIRoute]:
    """A route class (for ``route_class_override``) whose requests go to ``handler``."""

    class DirectRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            return handler

    return DirectRoute


class OrjsonResponse(JSONResponse):
    """JSON rendered by orjson: a tenth of the stdlib's time for an answer this small."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _errors(exc: ValidationError, *prefix: str) -> list[dict[str, Any]]:
    return [{**error, "loc": (*prefix, *error["loc"])} for error in exc.errors()]


async def json_body(request: Request, model: type[Model]) -> tuple[Model | None, list[Any]]:
    """The body validated as ``model`` straight from its bytes, and its errors.

    Malformed JSON is raised at once (``json_invalid`` with the character position, as
    FastAPI does from ``json.loads``); field errors are returned, for the caller to raise
    after authentication. pydantic's own JSON parser does the work, without building an
    intermediate dict; only bytes it refuses are parsed again the way FastAPI parses them.
    """
    raw = await request.body()
    if not raw:
        return None, [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
    try:
        return model.model_validate_json(raw), []
    except ValidationError as exc:
        invalid = [error for error in exc.errors() if error["type"] == "json_invalid"]
        if not invalid:
            return None, _errors(exc, "body")
        if "recursion limit" in str((invalid[0].get("ctx") or {}).get("error", "")):
            raise too_deep() from None
    try:
        return model.model_validate(_parsed_as_fastapi_does(raw)), []
    except ValidationError as exc:
        return None, _errors(exc, "body")


def too_deep() -> RequestValidationError:
    """The ``json_invalid`` answer (400) for a body nested beyond what a parser follows."""
    return RequestValidationError(
        [
            {
                "type": "json_invalid",
                "loc": ("body", 0),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": "nested too deeply"},
            }
        ]
    )


def _parsed_as_fastapi_does(raw: bytes) -> Any:
    """``json.loads``, with FastAPI's answers when it fails."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise too_deep() from None
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ]
        ) from None
    except ValueError:  # not UTF-8
        raise HTTPException(400, FASTAPI_UNPARSEABLE_BODY) from None


def header(request: Request, name: str, adapter: TypeAdapter[str]) -> tuple[str | None, list[Any]]:
    """An optional header validated by ``adapter``, and its errors (``loc`` header, name)."""
    value = request.headers.get(name)
    if value is None:
        return None, []
    try:
        return adapter.validate_python(value), []
    except ValidationError as exc:
        return None, _errors(exc, "header", name)
