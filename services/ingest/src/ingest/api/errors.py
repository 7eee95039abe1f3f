"""One error shape everywhere: ``{"error": {"code", "message", "field"?, "fields"?}}``.

``code`` is stable and machine-readable; ``field`` names the first offending field and
``fields`` lists all of them for validation errors.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.api.schemas import ErrorBody
from ingest.meta_graph import MetaRefused, MetaUnavailable
from notif_core.identity import recipient_form
from notif_core.logging import get_logger

log = get_logger(__name__)
DB_RETRY_AFTER_SECONDS = 2
FASTAPI_UNPARSEABLE_BODY = "There was an error parsing the body"


class ApiError(Exception):
    """An error answer with a stable machine-readable ``code``."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
        self.extra = extra


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return JSONResponse(status_code=status_code, content={"error": body}, headers=headers)


def validation_fields(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic errors as ``[{"field", "message", "type"}]`` with dotted field paths."""
    fields = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        if loc[:1] == ["body"]:  # FastAPI's name for the request body, not a field of it
            loc = loc[1:]
        inner = (err.get("ctx") or {}).get("path")
        if inner:  # a free-form value's own path (schemas.interoperable)
            loc.append(str(inner))
        fields.append(
            {"field": ".".join(loc) or None, "message": err.get("msg", ""), "type": err.get("type")}
        )
    return fields


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status_code,
            exc.code,
            exc.message,
            field=exc.field,
            headers=exc.headers,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if bad_json is not None:
            position = bad_json.get("loc", ("body", None))[-1]
            detail = (bad_json.get("ctx") or {}).get("error", "invalid JSON")
            return error_response(
                400,
                "invalid_json",
                f"The body is not valid JSON: {detail} at position {position}.",
                position=position,
            )
        fields = validation_fields(errors)
        first = fields[0]["field"] if fields else None
        return error_response(
            422, "validation_error", "The request is invalid.", field=first, fields=fields
        )

    @app.exception_handler(RecursionError)
    async def _too_deep(_request: Request, _exc: RecursionError) -> JSONResponse:
        # A body nested deeper than a parser or validator follows: the client's input,
        # never our failure (routes refuse such bodies earlier; this is the last guard).
        return error_response(400, "invalid_json", "The body is nested too deeply.")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == FASTAPI_UNPARSEABLE_BODY:
            # FastAPI's answer when its parser raised something other than a JSON error
            # (a body nested beyond its reach, bytes that are not UTF-8): the same code as
            # every other body that is not JSON.
            return error_response(
                400, "invalid_json", "The body is not valid JSON, or nests too deeply.", position=0
            )
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(DBAPIError)
    async def _database(_request: Request, exc: Exception) -> JSONResponse:
        unavailable = isinstance(exc, OperationalError | PoolTimeout) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated
        )
        if not unavailable:
            log.exception("database_error")
            return error_response(500, "internal_error", "Something went wrong on our side.")
        log.warning("database_unavailable", error=type(exc).__name__)
        return error_response(
            503,
            "database_unavailable",
            "The database is unavailable; retry shortly.",
            headers={"Retry-After": str(DB_RETRY_AFTER_SECONDS)},
        )


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route gives (plus those every route gives)."""
    return {code: {"model": ErrorBody} for code in (401, 429, 503, *codes)}


def recipient_param(value: str, field: str) -> str:
    """A person named in a path or query parameter: a number in any form Meta uses (E.164,
    or a WhatsApp id such as Mexico's ``+521…``), as ``+`` and digits, or a BSUID as it is;
    else 422 ``validation_error`` naming the parameter."""
    try:
        return recipient_form(value)
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc), field=field) from None


def meta_failure(exc: MetaRefused | MetaUnavailable) -> ApiError:
    """The answer to a call Meta refused (502 ``meta_error`` with Meta's ``meta_code``) or
    could not answer (503 ``meta_unavailable``, ``Retry-After``)."""
    if isinstance(exc, MetaRefused):
        return ApiError(502, "meta_error", f"Meta refused: {exc.message}", meta_code=exc.code)
    return ApiError(
        503,
        "meta_unavailable",
        "Meta's Cloud API could not be reached; try again.",
        headers={"Retry-After": "5"},
    )
