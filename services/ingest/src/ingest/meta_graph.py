"""Calling Meta's Graph API for ingest: lists (message templates, phone numbers) page by
page, and single calls on a sender's behalf (read receipts, media).

A list answers ``{"data": [...], "paging": {"cursors": {"after"}, "next"?}}``; ``next`` is
present while more pages remain (Meta: "Graph API: Paginated results", cursor-based
pagination). Pages are followed by the ``after`` cursor against our own base URL, never by
the ``next`` URL itself, so an answer cannot send the token anywhere else; path segments
are ids of digits only, so nothing a webhook carries can change the path either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any

import httpx

from notif_core.settings import CoreSettings

PAGE_SIZE = 100
TIMEOUT_SECONDS = 10.0


class GraphError(Exception):
    """Meta's answer was an error or not a list page; the message names no secret."""


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _page(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        code = _object(_object(body).get("error")).get("code")
        raise GraphError(f"HTTP {response.status_code}, Meta error code {code}")
    if not isinstance(body.get("data"), list):
        raise GraphError("the answer has no data list")
    return body


async def pages(
    client: httpx.AsyncClient,
    settings: CoreSettings,
    owner_id: str,
    edge: str,
    fields: str,
    max_pages: int,
) -> AsyncIterator[list[Any]]:
    """The ``data`` of each page of ``GET {base}/{version}/{owner_id}/{edge}``; raises
    :class:`GraphError` (also for an owner id that is not digits, and past ``max_pages``)."""
    address = url(settings, owner_id, edge)
    headers = auth(settings)
    params: dict[str, str | int] = {"limit": PAGE_SIZE, "fields": fields}
    for _ in range(max_pages):
        try:
            response = await client.get(address, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise GraphError(f"{type(exc).__name__} calling {edge}") from exc
        page = _page(response)
        yield page["data"]
        paging = _object(page.get("paging"))
        after = _object(paging.get("cursors")).get("after")
        if not paging.get("next") or not isinstance(after, str) or not after:
            return
        params = {**params, "after": after}
    raise GraphError(f"more than {max_pages} pages")


def error_of(response: httpx.Response) -> tuple[int | None, str]:
    """Meta's error code and message in a failed answer (Graph API error shape
    ``{"error": {"code", "message", ...}}``), or (None, the HTTP status)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = _object(_object(body).get("error"))
    code = error.get("code")
    message = error.get("message")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        message[:300] if isinstance(message, str) else f"HTTP {response.status_code}",
    )


def url(settings: CoreSettings, *path: str) -> str:
    """``{base}/{version}/{id}/{edge...}``: the id must be digits (raises
    :class:`GraphError` otherwise) and the edges are ours, so nothing a caller sends can
    change the path."""
    if not path or not path[0].isdigit():
        raise GraphError("the id is not a Meta id")
    base = settings.whatsapp_api_base_url.rstrip("/")
    return "/".join([base, settings.whatsapp_api_version, *path])


def auth(settings: CoreSettings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.whatsapp_access_token.get_secret_value()}"}


class MetaRefused(Exception):
    """Meta answered a call with an error: its code (None when it named none) and message."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class MetaUnavailable(Exception):
    """No usable answer from Meta: no connection, a timeout, or Meta's own 5xx (a
    temporary failure, 131016 "service unavailable"); worth trying again."""


async def call(request: Awaitable[httpx.Response]) -> httpx.Response:
    """``request``'s 200 answer; raises :class:`MetaUnavailable` or :class:`MetaRefused`."""
    try:
        response = await request
    except httpx.HTTPError as exc:
        raise MetaUnavailable(f"{type(exc).__name__} calling Meta") from exc
    if response.status_code >= 500:
        raise MetaUnavailable(f"Meta answered HTTP {response.status_code}")
    if response.status_code != 200:
        raise MetaRefused(*error_of(response))
    return response
