"""The suppression list through the API: opt-outs and opt-ins the customer records itself.

Writes go the same way as a STOP keyword: a ``recipient.opted_out`` (or ``opted_in``) event
through the outbox to the ledger, whose suppression list the dispatcher checks before every
send. Reads and changes are limited to the tenant's own sender numbers (an opt-out without
``phone_number_id`` stands for each of them). The list is
keyed by ``recipient_key``: any form of a number (or a BSUID) finds its person's entry.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from ingest import ledger_contract
from ingest.account.keys import Tenant
from ingest.api.errors import ApiError
from ingest.api.schemas import Suppression, SuppressionAccepted
from ingest.notifications.accept import no_sender_assigned
from ingest.notifications.read_model import decode_cursor, keyset_page
from ingest.relay import outbox
from notif_core.events import OptPayload, RecipientOptedIn, RecipientOptedOut
from notif_core.identity import recipient_key
from notif_core.vocabulary import Scope

SOURCE = "api"


def senders(tenant: Tenant, fallback: str | None, chosen: str | None = None) -> list[str]:
    """The sender numbers a request speaks for: the one chosen, or all of the tenant's.

    A tenant's numbers are its own (a number is assigned to one tenant at most); a tenant
    without numbers speaks for ``fallback`` (the default sender, in a single-tenant
    deployment: :func:`ingest.notifications.accept.fallback_sender`) or for none at all."""
    own = list(tenant.phone_number_ids) or ([fallback] if fallback else [])
    if chosen is None:
        return own
    if not own:
        raise no_sender_assigned()
    if chosen not in own:
        raise ApiError(
            422,
            "unknown_phone_number_id",
            "phone_number_id is not one of this tenant's numbers.",
            field="phone_number_id",
        )
    return [chosen]


def changeable(tenant: Tenant, fallback: str | None, chosen: str | None = None) -> list[str]:
    """:func:`senders` for a change (suppress or lift): 422 ``no_sender_assigned`` when the
    tenant has no number to change anything for."""
    numbers = senders(tenant, fallback, chosen)
    if not numbers:
        raise no_sender_assigned()
    return numbers


async def record(
    conn: AsyncConnection,
    tenant: Tenant,
    recipient: str,
    numbers: list[str],
    action: Literal["suppress", "lift"],
    scope: Scope = "all",
) -> SuppressionAccepted:
    """One event per sender number, in the outbox of the caller's transaction."""
    pending = []
    for number in numbers:
        payload = OptPayload(
            phone_number_id=number, recipient=recipient, source=SOURCE, scope=scope
        )
        event = (
            RecipientOptedOut(producer="ingest", tenant_id=tenant.id, payload=payload)
            if action == "suppress"
            else RecipientOptedIn(producer="ingest", tenant_id=tenant.id, payload=payload)
        )
        pending.append(outbox.Pending("events", event))
    await outbox.add_many(conn, pending)
    return SuppressionAccepted(
        recipient=recipient,
        scope=scope if action == "suppress" else None,
        phone_number_ids=numbers,
        action=action,
    )


async def active(
    conn: AsyncConnection,
    numbers: list[str],
    *,
    recipient: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Suppression], str | None]:
    """Who is suppressed now for these senders, in a stable order. Only rows of the given
    numbers are read: never another tenant's, never a row for "every sender"."""
    if not numbers:
        return [], None
    clauses = ["phone_number_id = ANY(:numbers)"]
    params: dict[str, Any] = {"numbers": numbers, "limit": limit + 1}
    if recipient is not None:
        clauses.append("recipient = :recipient")
        params["recipient"] = recipient_key(recipient)
    if cursor is not None:
        params["c_r"], params["c_p"], params["c_s"] = decode_cursor(cursor, 3)
        clauses.append("(recipient, phone_number_id, scope) > (:c_r, :c_p, :c_s)")
    query = ledger_contract.opt_outs(clauses)
    page, next_cursor = keyset_page(
        list(await conn.execute(query, params)),
        limit,
        lambda r: (r.recipient, r.phone_number_id, r.scope),
    )
    items = [
        Suppression(
            recipient=r.recipient,
            phone_number_id=r.phone_number_id,
            scope=r.scope,
            source=r.source,
            since=r.since,
        )
        for r in page
    ]
    return items, next_cursor
