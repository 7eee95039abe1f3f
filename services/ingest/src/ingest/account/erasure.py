"""Erasing a person (GDPR Art. 17): ingest's part, and the request to the ledger.

In one transaction, ingest removes the person from what it owns:

- accepted requests (``ingest.notifications``): the recipient reads ``erased`` and the
  stored request keeps only the priority;
- stored idempotent responses, published outbox rows and raw webhook bodies that mention
  any spelling of the person (these are kept days at most, but a person asking to be
  erased should not wait for that);
- inbound marks (the person's and those their BSUID moved), the inbound messages recorded
  under their keys, and the messages they sent (``ingest.inbound``).

and writes a ``recipient.erasure_requested`` to the events queue. The ledger does the rest
(``ledger.erasure``); the relay deletes that outbox row as soon as it is published, since
it holds the number in clear.

Rows of notifications still on their way (not yet published) are left to finish; erase
again after they have if they matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from sqlalchemy import delete, func, insert, literal, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest import ledger_contract
from ingest.relay import outbox
from ingest.tables import erasures, inbound, inbound_marks, inbound_messages, notifications
from notif_core.erasure import ERASED, deployment_pseudonym
from notif_core.events import ErasureRequestedPayload, RecipientErasureRequested
from notif_core.identity import recipient_key, spellings

PRODUCER = "ingest"
_ANY_FORM = "EXISTS (SELECT 1 FROM unnest(CAST(:forms AS text[])) AS f WHERE {test})"
_MENTIONS = [
    text(f"DELETE FROM ingest.{table} WHERE {where}" + _ANY_FORM.format(test=test))  # noqa: S608
    for table, where, test in (
        (
            "outbox",
            "(published_at IS NOT NULL OR quarantined_at IS NOT NULL) AND ",
            "strpos(body, '\"' || f || '\"') > 0",
        ),
        ("webhook_inbox", "", "position(convert_to('\"' || f || '\"', 'UTF8') IN body) > 0"),
    )
]
"""Rows that quote a spelling of the person as a whole JSON string (``"+4930123"``, never
a run of digits inside another value): sent or set-aside outbox rows and raw webhook
bodies, both kept only for inspection. Idempotency rows are left alone: their keys are the
client's opaque strings and their responses name no one, and deleting one would let a
retry send twice. Built from the constants above only."""
_OTHER_SENDERS = text(
    "SELECT DISTINCT n FROM ingest.tenants AS t, unnest(t.phone_number_ids) AS n "
    "WHERE t.id <> :tenant"
)


@dataclass(frozen=True)
class Erasure:
    """What ingest removed at once; the ledger's part follows within seconds."""

    request_id: UUID
    notifications: int


async def person_forms(conn: AsyncConnection, recipient: str) -> set[str]:
    """Every spelling of every form the ledger links to ``recipient`` (its contract
    ``ledger.person_forms_v1``: a BSUID and its number, the numbers a person changed
    from), and ``recipient`` itself."""
    key = recipient_key(recipient)
    linked = await conn.execute(ledger_contract.PERSON_FORMS, {"forms": [recipient, key]})
    keys = {key} | {recipient_key(f) for f in linked.scalars()}
    return {recipient}.union(*(spellings(k) for k in keys))


async def known_to(
    conn: AsyncConnection, tenant_id: UUID, senders: list[str], forms: set[str]
) -> bool:
    """Whether the tenant may erase this person: it sent to them, one of its numbers holds
    their window or opt-out (``ledger.person_known_v1``), or it erased them before."""
    sent = await conn.execute(
        ledger_contract.SENT_TO, {"tenant": tenant_id, "forms": sorted(forms)}
    )
    if sent.first() is not None:
        return True
    keys = {recipient_key(f) for f in forms}
    subjects = sorted(deployment_pseudonym(k) for k in keys)
    e = erasures
    before = await conn.execute(
        select(literal(1)).where(e.c.tenant_id == tenant_id, e.c.subject.in_(subjects)).limit(1)
    )
    if before.first() is not None:
        return True
    ledger = await conn.execute(
        ledger_contract.PERSON_KNOWN, {"keys": sorted(keys) + subjects, "senders": senders}
    )
    return bool(ledger.scalar())


async def known_elsewhere(
    conn: AsyncConnection, tenant_id: UUID, own_senders: list[str], forms: set[str]
) -> bool:
    """Whether another tenant holds data of this person: notifications to them, or a window
    or opt-out on one of its numbers. Erasure is of the person across the deployment (their
    data key is one), so only the operator may erase someone several tenants know."""
    n = notifications
    theirs = await conn.execute(
        select(literal(1)).where(n.c.tenant_id != tenant_id, n.c.to.in_(forms)).limit(1)
    )
    if theirs.first() is not None:
        return True
    senders = [s for s in (await conn.execute(_OTHER_SENDERS, {"tenant": tenant_id})).scalars()]
    senders = [s for s in senders if s not in own_senders]
    if not senders:
        return False
    keys = {recipient_key(f) for f in forms}
    subjects = sorted(deployment_pseudonym(k) for k in keys)
    found = await conn.execute(
        ledger_contract.PERSON_KNOWN, {"keys": sorted(keys) + subjects, "senders": senders}
    )
    return bool(found.scalar())


async def erase(
    conn: AsyncConnection,
    recipient: str,
    tenant_id: UUID | None,
    requested_by: Literal["api", "notifctl"] = "api",
    every: set[str] | None = None,
) -> Erasure:
    """Erase ingest's rows of the person ``recipient`` names (any form) and ask the ledger
    to erase its own, in the caller's transaction. ``every``: :func:`person_forms`, when
    the caller has it already."""
    if every is None:
        every = await person_forms(conn, recipient)
    forms = sorted(every)
    keys = sorted({recipient_key(f) for f in every})
    n = notifications
    erased = await conn.execute(
        update(n)
        .where(n.c.to.in_(forms))
        .values(to=ERASED, request=func.jsonb_build_object("priority", n.c.priority))
        .returning(n.c.tenant_id)
    )
    own = sum(1 for (owner,) in erased if tenant_id is None or owner == tenant_id)
    for statement in _MENTIONS:
        await conn.execute(statement, {"forms": forms})
    m = inbound_marks
    await conn.execute(delete(m).where(or_(m.c.recipient_key.in_(keys), m.c.user_id.in_(keys))))
    await conn.execute(delete(inbound_messages).where(inbound_messages.c.recipient_key.in_(keys)))
    i = inbound
    await conn.execute(delete(i).where(or_(i.c.sender.in_(forms), i.c.user_id.in_(forms + keys))))
    request = RecipientErasureRequested(
        producer=PRODUCER,
        tenant_id=tenant_id,
        payload=ErasureRequestedPayload(recipient=recipient, requested_by=requested_by),
    )
    await outbox.add_many(conn, [outbox.Pending("events", request)])
    await conn.execute(
        insert(erasures).values(
            id=request.event_id,
            tenant_id=tenant_id,
            subject=deployment_pseudonym(recipient_key(recipient)),
            requested_by=requested_by,
        )
    )
    return Erasure(request.event_id, own)
