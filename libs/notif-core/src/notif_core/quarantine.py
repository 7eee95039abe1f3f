"""Setting aside what cannot be handled, so that nothing behind it waits.

Every stage that takes work in order (the outbox relay, the dispatcher, the ledger's
consumer, the callback deliverer) may meet an item it can never handle: a stored event its
parser refuses, a message that is not an event, a callback body that cannot be sent. Such
an item is *quarantined*: kept with its reason where an operator can list, retry or drop it
(``notifctl quarantine …``), and counted here, which the ``NotifQuarantined`` alert watches.

``reason`` is one of a fixed set of classes chosen by the code (:data:`Reason`), never text a
tenant supplied, so it is safe as a metric label.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Final, Literal, get_args
from uuid import UUID

import httpx
from botocore import exceptions as botocore_exc
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notif_core.events import FailedPayload, MetaError, NotificationFailed
from notif_core.ids import derived_id
from notif_core.logging import get_logger
from notif_core.outages import chain, dependency_down
from notif_core.privacy import scrub_text

if TYPE_CHECKING:
    from notif_core.sqs import Delivery

log = get_logger(__name__)

Stage = Literal["relay", "dispatcher", "ledger", "callbacks"]
Reason = Literal[
    "unparseable",
    "invalid_event",
    "too_large",
    "unexpected_type",
    "handler_error",
    "unsendable",
]
STAGES: Final[tuple[Stage, ...]] = ("relay", "dispatcher", "ledger", "callbacks")
DETAIL_LIMIT: Final = 300

QUARANTINED = Counter(
    "notif_quarantined",
    "Items set aside because they can never be handled, by stage and reason class.",
    ["stage", "reason"],
)
for _stage in STAGES:  # every series exists from the start, at 0, so increase() sees the 1st
    for _reason in get_args(Reason):
        QUARANTINED.labels(stage=_stage, reason=_reason)


def record(stage: Stage, reason: Reason) -> None:
    """Count one quarantined item (the caller logs it and stores it with its reason)."""
    QUARANTINED.labels(stage=stage, reason=reason).inc()


def detail(exc: BaseException) -> str:
    """A short description of ``exc`` for an operator: its class and first line, clipped."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return scrub_text(f"{type(exc).__name__}: {first}")[:DETAIL_LIMIT]


# --- storing set-aside messages (the dispatcher's and the ledger's ``quarantine`` tables) --

LAST_RECEIVE: Final = 4
"""A consumer sets a failing message aside on this receive: one before the redrive policy
(``notif_core.sqs.limits.DEFAULT_MAX_RECEIVE_COUNT``, 5) would park it in the DLQ without a
reason. Written out, not imported: the SQS runtime imports this module."""


def table(metadata: MetaData) -> Table:
    """The shape of a consumer's ``quarantine`` table, in ``metadata``'s schema (each service
    creates its own in a migration, and owns it)."""
    return Table(
        "quarantine",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("queue", Text, nullable=False),
        Column("message_id", Text, nullable=False),
        Column("body", Text, nullable=False),
        Column("reason", Text, nullable=False),
        Column("detail", Text, nullable=False),
        Column("notification_id", PG_UUID(as_uuid=True), nullable=True),
        Column("tenant_id", PG_UUID(as_uuid=True), nullable=True),
        Column("receive_count", Integer, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        UniqueConstraint("queue", "message_id"),
    )


@dataclass(frozen=True)
class Item:
    """One message set aside: where it came from, what it was, and why."""

    queue: str
    message_id: str
    body: str
    reason: Reason
    detail: str
    receive_count: int
    notification_id: UUID | None = None
    tenant_id: UUID | None = None

    @classmethod
    def of(cls, delivery: Delivery, reason: Reason, detail: str) -> Item:
        """The item for a received message, with the ids its body names (read leniently)."""
        ids = lenient_ids(delivery.body)
        return cls(
            queue=delivery.queue_url.rsplit("/", 1)[-1],
            message_id=delivery.message_id,
            body=delivery.body,
            reason=reason,
            detail=detail,
            receive_count=delivery.receive_count,
            notification_id=ids.notification_id,
            tenant_id=ids.tenant_id,
        )


CODE: Final = "quarantined"
"""The error code a notification fails with when its command or event was set aside."""


def failed_event(
    notification_id: UUID, tenant_id: UUID | None, reason: Reason, producer: str
) -> NotificationFailed:
    """The terminal event of a notification whose command or event was set aside: its
    client learns it failed instead of seeing it ``accepted`` for ever. Its id derives from
    the notification alone, so whichever stage sets it aside, it is stored once."""
    return NotificationFailed(
        event_id=derived_id(str(notification_id), CODE),
        producer=producer,
        tenant_id=tenant_id,
        notification_id=notification_id,
        payload=FailedPayload(
            error=MetaError(code=CODE, title="Set aside: could not be processed", details=reason),
            attempts=0,
        ),
    )


async def store(
    engine: AsyncEngine,
    quarantine: Table,
    stage: Stage,
    delivery: Delivery,
    reason: Reason,
    detail: str,
) -> Item:
    """Keep a received message in ``quarantine`` with its reason, count and log it; the
    caller then acknowledges it. Returns the item stored."""
    item = Item.of(delivery, reason, detail)
    async with engine.begin() as conn:
        item_id = await insert(conn, quarantine, item)
    record(stage, reason)
    log.warning(
        "quarantined",
        stage=stage,
        id=item_id,
        reason=reason,
        detail=detail,
        message_id=delivery.message_id,
        receive_count=delivery.receive_count,
        notification_id=str(item.notification_id) if item.notification_id else None,
    )
    return item


async def insert(conn: AsyncConnection, quarantine: Table, item: Item) -> int:
    """Store ``item`` in ``quarantine`` and return its id (what ``notifctl`` names it by).
    A message stored already (its ack was lost) keeps its row, with the newer receive count."""
    statement = (
        pg_insert(quarantine)
        .values(**asdict(item))
        .on_conflict_do_update(
            index_elements=["queue", "message_id"],
            set_={"receive_count": pg_insert(quarantine).excluded.receive_count},
        )
        .returning(quarantine.c.id)
    )
    return int((await conn.execute(statement)).scalar_one())


@dataclass(frozen=True)
class Ids:
    """The ids a message names, read leniently: also from a body that is not a valid event."""

    notification_id: UUID | None = None
    tenant_id: UUID | None = None
    type: str | None = None


def lenient_ids(body: str) -> Ids:
    """``notification_id``, ``tenant_id`` and ``type`` of a JSON object, each when it is
    there and well formed; nothing from anything else."""
    try:  # the stdlib's parser: it also takes what stricter ones refuse (a 400-digit integer)
        data = json.loads(body)
    except (ValueError, RecursionError):
        return Ids()
    if not isinstance(data, dict):
        return Ids()
    kind = data.get("type")
    return Ids(
        uuid_or_none(data.get("notification_id")),
        uuid_or_none(data.get("tenant_id")),
        kind if isinstance(kind, str) else None,
    )


def uuid_or_none(value: object) -> UUID | None:
    """``value`` as a UUID when it is one (in any form ``UUID()`` takes), else None."""
    try:
        return UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def parse_failure(exc: ValidationError) -> tuple[Reason, str]:
    """The reason class and an operator's description of why a body is not an event. The
    description names fields and problems, never the values (a body may hold a number)."""
    errors = exc.errors(include_url=False, include_input=False)
    kinds = {e["type"] for e in errors}
    reason: Reason
    if "json_invalid" in kinds:
        reason = "unparseable"
    elif "union_tag_invalid" in kinds:
        reason = "unexpected_type"
    else:
        reason = "invalid_event"
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors[:3]]
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return reason, scrub_text("; ".join(parts) + more)[:DETAIL_LIMIT]


_UNREACHABLE: tuple[type[BaseException], ...] = (
    botocore_exc.BotoCoreError,  # SQS unreachable, or refusing our calls
    botocore_exc.ClientError,
    httpx.TransportError,  # Meta unreachable
)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says a server we depend on is unreachable or
    unwell: that is waited out, never blamed on the message being handled. PostgreSQL and
    Valkey are judged by :func:`notif_core.outages.dependency_down`, SQS and Meta here."""
    if dependency_down(exc) is not None:
        return True
    return any(isinstance(current, _UNREACHABLE) for current in chain(exc))
