"""``ingest.business_numbers`` and ``ingest.business_accounts``: written by Meta's webhooks
(in the webhook's own transaction) and by the relay's reads of Meta's phone-number API;
read by the dispatcher through ``ingest.sender_health_v1()`` (migration 0010)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, case, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest.senders.reports import AccountReport, NumberReport
from ingest.tables import business_accounts, business_numbers


@dataclass(frozen=True)
class NumberState:
    """One number as Meta's phone-number API lists it; None where it said nothing."""

    phone_number_id: str
    display_digits: str
    quality_rating: str | None
    messaging_limit: str | None
    throughput_level: str | None


async def request_sync(conn: AsyncConnection, waba_id: str) -> None:
    """Ask the relay to read the account's numbers again soon."""
    stmt = insert(business_accounts).values(waba_id=waba_id, numbers_sync_requested_at=func.now())
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["waba_id"],
            set_={"numbers_sync_requested_at": stmt.excluded.numbers_sync_requested_at},
        )
    )


async def number_reported(conn: AsyncConnection, report: NumberReport) -> None:
    """A ``phone_number_quality_update``: its event and limit at once, the rest (quality
    rating, throughput level) by the read it asks for."""
    values: dict[str, Any] = {"last_event": report.event, "updated_at": func.now()}
    if report.reported_at is not None:
        values["reported_at"] = report.reported_at
    if report.messaging_limit is not None:
        values["messaging_limit"] = report.messaging_limit
    stmt = insert(business_numbers).values(
        waba_id=report.waba_id, display_digits=report.display_digits, **values
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["waba_id", "display_digits"],
            set_=values,
            where=_not_older(business_numbers.c.reported_at, report.reported_at),
        )
    )
    await request_sync(conn, report.waba_id)


def _not_older(stored: Any, reported: datetime | None) -> Any:
    """A report applies unless Meta stamped it before the one already stored."""
    if reported is None:
        return literal(True)
    return or_(stored.is_(None), stored <= literal(reported, DateTime(timezone=True)))


async def account_reported(conn: AsyncConnection, report: AccountReport) -> None:
    """An ``account_update``: the fields it carries replace the stored ones."""
    values: dict[str, Any] = {"last_event": report.event, "updated_at": func.now()}
    if report.reported_at is not None:
        values["reported_at"] = report.reported_at
    if report.ban_state is not None:
        values["ban_state"] = report.ban_state
    if report.violation_type is not None:
        values["violation_type"] = report.violation_type
    if report.restrictions is not None:
        values["restrictions"] = [
            {
                "type": r.type,
                "expiration": r.expiration.isoformat() if r.expiration is not None else None,
            }
            for r in report.restrictions
        ]
    stmt = insert(business_accounts).values(waba_id=report.waba_id, **values)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["waba_id"],
            set_=values,
            where=_not_older(business_accounts.c.reported_at, report.reported_at),
        )
    )


async def numbers_synced(
    engine: AsyncEngine, waba_id: str, numbers: Sequence[NumberState], started: datetime
) -> None:
    """The account's numbers as Meta listed them in a read that began at ``started`` (the
    database's clock). A webhook's limit newer than the read is kept, and so is a request
    for another read made during it."""
    n = business_numbers.c
    async with engine.begin() as conn:
        for number in numbers:
            fresh: dict[str, Any] = {
                "phone_number_id": number.phone_number_id,
                "quality_rating": number.quality_rating,
                "throughput_level": number.throughput_level,
                "synced_at": func.now(),
                "updated_at": func.now(),
            }
            # A number id moves with its number: free it wherever it was before.
            await conn.execute(
                update(business_numbers)
                .where(
                    n.phone_number_id == number.phone_number_id,
                    or_(n.waba_id != waba_id, n.display_digits != number.display_digits),
                )
                .values(phone_number_id=None)
            )
            stmt = insert(business_numbers).values(
                waba_id=waba_id,
                display_digits=number.display_digits,
                messaging_limit=number.messaging_limit,
                **fresh,
            )
            limit = stmt.excluded.messaging_limit
            keep = limit.is_(None) | (n.updated_at > started)
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["waba_id", "display_digits"],
                    set_={**fresh, "messaging_limit": case((keep, n.messaging_limit), else_=limit)},
                )
            )
        a = business_accounts.c
        stmt = insert(business_accounts).values(waba_id=waba_id, numbers_synced_at=func.now())
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["waba_id"],
                set_={
                    "numbers_synced_at": func.now(),
                    "numbers_sync_requested_at": case(
                        (a.numbers_sync_requested_at > started, a.numbers_sync_requested_at),
                        else_=None,
                    ),
                },
            )
        )


async def due(engine: AsyncEngine, wabas: Sequence[str], every_seconds: float) -> list[str]:
    """Of ``wabas`` (the accounts the settings name), those whose numbers were never read,
    were read ``every_seconds`` ago or more, or that a webhook asked to read again."""
    a = business_accounts.c
    async with engine.connect() as conn:
        rows = {
            r.waba_id: r
            for r in (
                await conn.execute(
                    select(
                        a.waba_id,
                        a.numbers_synced_at,
                        a.numbers_sync_requested_at,
                        func.extract("epoch", func.now() - a.numbers_synced_at).label("age"),
                    ).where(a.waba_id.in_(list(wabas)))
                )
            ).all()
        }
    return [
        waba
        for waba in dict.fromkeys(wabas)
        if (row := rows.get(waba)) is None
        or row.numbers_synced_at is None
        or row.numbers_sync_requested_at is not None
        or float(row.age) >= every_seconds
    ]
