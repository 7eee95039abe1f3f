"""Reads for API clients: the ledger's read model joined with what ingest accepted.

The ledger owns its read model and event store; ingest reads them only through the
functions the ledger publishes (``ingest/ledger_contract.py``). Until the ledger has seen a
notification, its status is ``accepted`` (or ``scheduled``).

A client reads its own cancel: once ``POST …/cancel`` answered ``cancelled``, the status is
``cancelled`` even before the ledger projects it, because the cancel ingest committed holds
the notification cancelled in the dispatch gate (where a cancel lands, see
``ingest.notifications.cancel``; read through ``ingest/dispatcher_contract.py``), and that
wins over a read model still at ``accepted`` or ``scheduled``. Its time is the time the
cancel won until the ledger has its own.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest import dispatcher_contract, ledger_contract
from ingest.api.errors import ApiError
from ingest.api.schemas import (
    CallbackDelivery,
    HistoryItem,
    NotificationSummary,
    NotificationView,
    Pricing,
)
from notif_core.events import STATUS_OF_EVENT, STATUSES
from notif_core.identity import recipient_key, spellings
from notif_core.vocabulary import CallbackState, NotificationStatus, StatusName

_CANCEL_AHEAD = (
    "c.notification_id IS NOT NULL AND (l.status IS NULL OR l.status IN ('accepted', 'scheduled'))"
)
"""The cancel ingest committed, which the ledger has not projected yet."""
_STATUS = (
    f"CASE WHEN {_CANCEL_AHEAD} THEN 'cancelled' ELSE COALESCE(l.status, "
    "CASE WHEN n.send_at IS NOT NULL THEN 'scheduled' ELSE 'accepted' END) END"
)
_JOINS = f"{ledger_contract.STATUS_JOIN} {dispatcher_contract.CANCELLED_JOIN}"
"""The ledger's read model ``l`` and the gate's cancel ``c`` of accepted notifications ``n``."""
_TIMESTAMPS = ", ".join(
    f"COALESCE(l.cancelled_at, CASE WHEN {_CANCEL_AHEAD} THEN c.cancelled_at END) AS cancelled_at"
    if s == NotificationStatus.CANCELLED
    else f"l.{s}_at"
    for s in STATUSES
)
_VIEW = text(
    """
    SELECT n.id, n.to, n.priority, n.send_at, n.expires_at, n.created_at,
           n.request->'metadata' AS metadata, STATUS AS status,
           l.wamid, l.last_error, l.updated_at, l.attempts, l.pricing_category, l.billable,
           l.pricing_model, TIMESTAMPS
    FROM ingest.notifications n JOINS
    WHERE n.id = :id AND n.tenant_id = :tenant
    """.replace("STATUS", _STATUS)
    .replace("TIMESTAMPS", _TIMESTAMPS)
    .replace("JOINS", _JOINS)
)
_HIDDEN = frozenset({"to", "message", "from", "metadata", "callback_url", "sealed"})


def _history_item(row: Any) -> HistoryItem:
    data = {k: v for k, v in (row.data or {}).items() if k not in _HIDDEN}
    return HistoryItem(
        event_id=row.event_id,
        type=row.type,
        status=STATUS_OF_EVENT.get(row.type),
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        data=data,
    )


async def history(conn: AsyncConnection, notification_id: UUID) -> list[HistoryItem]:
    return [
        _history_item(h)
        for h in await conn.execute(ledger_contract.HISTORY, {"id": notification_id})
    ]


async def current_status(
    conn: AsyncConnection, tenant_id: UUID, notification_id: UUID
) -> NotificationStatus | None:
    row = (await conn.execute(_VIEW, {"id": notification_id, "tenant": tenant_id})).one_or_none()
    return None if row is None else NotificationStatus(row.status)


async def notification_view(
    conn: AsyncConnection, tenant_id: UUID, notification_id: UUID
) -> NotificationView | None:
    row = (await conn.execute(_VIEW, {"id": notification_id, "tenant": tenant_id})).one_or_none()
    if row is None:
        return None
    return NotificationView(
        id=row.id,
        status=row.status,
        to=row.to,
        wamid=row.wamid,
        last_error=row.last_error,
        metadata=row.metadata,
        send_at=row.send_at,
        expires_at=row.expires_at,
        priority=row.priority,
        created_at=row.created_at,
        updated_at=row.updated_at,
        timestamps={s: at for s in STATUSES if (at := getattr(row, f"{s}_at")) is not None},
        attempts=row.attempts or 0,
        pricing=Pricing(
            category=row.pricing_category, billable=row.billable, pricing_model=row.pricing_model
        )
        if row.pricing_category
        else None,
        history=await history(conn, notification_id),
        callbacks=(await callback_deliveries(conn, tenant_id, notification_id=notification_id))[0],
    )


def _bad_cursor() -> ApiError:
    return ApiError(400, "invalid_cursor", "The cursor is not one we issued.", field="cursor")


def encode_cursor(*parts: str) -> str:
    """An opaque keyset cursor: the sort key of the last item served."""
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")


def keyset_page(
    rows: Sequence[Any], limit: int, key: Callable[[Any], tuple[str, ...]]
) -> tuple[Sequence[Any], str | None]:
    """The first ``limit`` of ``rows`` (fetched as ``limit + 1``) and the cursor of the next
    page: the sort key of the last row served, or None on the last page."""
    page = rows[:limit]
    return page, (encode_cursor(*key(page[-1])) if page and len(rows) > limit else None)


def decode_cursor(cursor: str, count: int) -> list[str]:
    """The parts of a cursor we issued, or 400 invalid_cursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raw = ""
    parts = raw.split("|")
    if len(parts) != count or "\x00" in raw:  # ours never hold a NUL; the database refuses one
        raise _bad_cursor()
    return parts


def time_and_id(cursor: str) -> tuple[datetime, UUID]:
    stamp, ident = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(stamp), UUID(ident)
    except ValueError:
        raise _bad_cursor() from None


async def list_notifications(
    conn: AsyncConnection,
    tenant_id: UUID,
    *,
    status: StatusName | None,
    to: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[NotificationSummary], str | None]:
    """Newest first, keyset-paginated on (created_at, id) so pages never shift."""
    clauses = ["n.tenant_id = :tenant"]
    params: dict[str, Any] = {"tenant": tenant_id, "limit": limit + 1}
    if status is not None:
        clauses.append(f"{_STATUS} = :status")
        params["status"] = status
    if to is not None:  # every form of the person (Meta's ids drop or add digits)
        clauses.append("n.to = ANY(:to)")
        params["to"] = sorted(spellings(recipient_key(to)))
    if created_after is not None:
        clauses.append("n.created_at > :after")
        params["after"] = created_after
    if created_before is not None:
        clauses.append("n.created_at < :before")
        params["before"] = created_before
    if cursor is not None:
        params["c_time"], params["c_id"] = time_and_id(cursor)
        clauses.append("(n.created_at, n.id) < (:c_time, :c_id)")
    query = text(
        f"""
        SELECT n.id, n.to, n.created_at, {_STATUS} AS status, l.updated_at, l.wamid
        FROM ingest.notifications n {_JOINS}
        WHERE {" AND ".join(clauses)}
        ORDER BY n.created_at DESC, n.id DESC
        LIMIT :limit
        """  # noqa: S608 - clauses are fixed strings; values are bound parameters
    )
    page, next_cursor = keyset_page(
        list(await conn.execute(query, params)),
        limit,
        lambda r: (r.created_at.isoformat(), str(r.id)),
    )
    items = [
        NotificationSummary(
            id=r.id,
            status=r.status,
            to=r.to,
            created_at=r.created_at,
            updated_at=r.updated_at,
            wamid=r.wamid,
        )
        for r in page
    ]
    return items, next_cursor


async def callback_deliveries(
    conn: AsyncConnection,
    tenant_id: UUID,
    *,
    notification_id: UUID | None = None,
    state: CallbackState | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[CallbackDelivery], str | None]:
    """Callbacks (status changes and inbound messages) and how their delivery went, newest
    first."""
    clauses = ["tenant_id = :tenant"]
    params: dict[str, Any] = {"tenant": tenant_id, "limit": limit + 1}
    if notification_id is not None:
        clauses.append("notification_id = :nid")
        params["nid"] = notification_id
    if state is not None:
        clauses.append("state = :state")
        params["state"] = state
    if cursor is not None:
        (last_id,) = decode_cursor(cursor, 1)
        if not last_id.isdigit():
            raise _bad_cursor()
        clauses.append("id < :after")
        params["after"] = int(last_id)
    query = ledger_contract.callback_deliveries(clauses)
    page, next_cursor = keyset_page(
        list(await conn.execute(query, params)), limit, lambda r: (str(r.id),)
    )
    items = [
        CallbackDelivery(
            id=r.id,
            kind="status" if r.notification_id is not None else "inbound",
            notification_id=r.notification_id,
            event_id=r.event_id,
            status=r.status,
            url=r.url,
            state=r.state,
            attempts=r.attempts,
            last_status_code=r.last_status_code,
            last_error=r.last_error,
            next_attempt_at=r.next_attempt_at if r.state == "pending" else None,
            created_at=r.created_at,
            delivered_at=r.delivered_at,
        )
        for r in page
    ]
    return items, next_cursor
