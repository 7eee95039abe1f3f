"""Erasing a person from the ledger (GDPR Art. 17), on a ``recipient.erasure_requested``.

The request names any form of the person. Everything the ledger links to it is found
(``ledger.person_forms_v1``, migration 0008): the identity key, the keys its aliases pair
with it (a BSUID and its number, the numbers clients dialled for Meta's id, the numbers the
person changed from), and each key's spellings. Then, in the projection's
transaction:

- their opt-outs are kept as pseudonymous rows (``notif_core.erasure.pseudonym``), so a
  later send to the number is still suppressed;
- windows, clear suppressions and aliases go; notifications keep their status and
  timings but lose recipient and metadata; callbacks lose metadata; quarantined messages
  that mention them go;
- their data keys are destroyed: their sealed events read back redacted (``ledger.sealing``);
  events stored before sealing are redacted in place, the one write into the store that
  is not an append;
- the result is the ``recipient.erased`` event, which names only pseudonyms; its projection
  writes the kept opt-outs, so ``notifctl ledger rebuild`` gives the same state.

The request itself is never stored: it holds the number in clear.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, cast, delete, literal, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.quarantine import TABLE as quarantine
from ledger.tables import (
    callbacks,
    events,
    notifications,
    recipient_aliases,
    retired_aliases,
    retired_suppressions,
    subject_keys,
    suppressions,
    windows,
)
from notif_core.erasure import PERSONAL_FIELDS, deployment_pseudonym, redacted
from notif_core.events import (
    ErasedOptOut,
    ErasedPayload,
    RecipientErased,
    RecipientErasureRequested,
)
from notif_core.identity import recipient_key, spellings
from notif_core.ids import derived_id
from notif_core.logging import get_logger

log = get_logger(__name__)
PRODUCER = "ledger"
PERSON_FORMS = text("SELECT form FROM ledger.person_forms_v1(CAST(:forms AS text[]))")
_PERSON_FIELDS = ("to", "from", "user_id", "recipient", "wa_id", "old", "new")


async def _keys_of(conn: AsyncConnection, given: str) -> set[str]:
    """The identity keys of one person: every form ``ledger.person_forms_v1`` links to the
    given one (a BSUID and its number, the numbers a person changed from), keyed."""
    key = recipient_key(given)
    forms = await conn.execute(PERSON_FORMS, {"forms": [given, key]})
    return {key} | {recipient_key(f) for f in forms.scalars()}


async def erase(
    conn: AsyncConnection, request: RecipientErasureRequested
) -> RecipientErased | None:
    """Erase the person the request names from the live ledger; the ``recipient.erased``
    event to store, or None when this request was carried out before."""
    event_id = derived_id(str(request.event_id), "erased")
    done = await conn.execute(select(events.c.seq).where(events.c.event_id == event_id))
    if done.first() is not None:
        return None
    keys = await _keys_of(conn, request.payload.recipient.strip())
    forms = set().union(*(spellings(k) for k in keys))
    s = suppressions
    retired = [
        r
        for r in await conn.execute(
            select(retired_suppressions).where(retired_suppressions.c.recipient.in_(keys))
        )
    ]
    kept = [
        ErasedOptOut(
            phone_number_id=r.phone_number_id,
            recipient=deployment_pseudonym(r.recipient),
            scope=r.scope,
            source=r.source,
            since=r.since,
            lifted_at=r.lifted_at,
        )
        for r in [
            *retired,
            *await conn.execute(
                select(s).where(s.c.recipient.in_(keys)).order_by(s.c.phone_number_id, s.c.scope)
            ),
        ]
    ]
    for table in (s, retired_suppressions):
        await conn.execute(delete(table).where(table.c.recipient.in_(keys)))
    await conn.execute(delete(windows).where(windows.c.recipient.in_(keys)))
    for a in (recipient_aliases, retired_aliases):
        await conn.execute(delete(a).where(or_(a.c.key.in_(keys), a.c.alias.in_(forms | keys))))
    n = notifications
    ids = list(
        (
            await conn.execute(
                update(n)
                .where(n.c.recipient.in_(forms))
                .values(recipient=None, metadata=None)
                .returning(n.c.id)
            )
        ).scalars()
    )
    if ids:
        await conn.execute(
            update(callbacks)
            .where(callbacks.c.notification_id.in_(ids))
            .values(body=callbacks.c.body.op("-")(literal("metadata", Text)))
        )
    mentions = [quarantine.c.body.contains(f'"{f}"') for f in sorted(forms)]
    await conn.execute(delete(quarantine).where(or_(*mentions)))
    subjects = sorted({deployment_pseudonym(k) for k in keys})
    await conn.execute(delete(subject_keys).where(subject_keys.c.subject.in_(subjects)))
    legacy = await _redact_unsealed(conn, forms, keys)
    log.info("recipient_erased", notifications=len(ids), opt_outs=len(kept), legacy=legacy)
    return RecipientErased(
        event_id=event_id,
        tenant_id=request.tenant_id,
        producer=PRODUCER,
        occurred_at=request.occurred_at,
        traceparent=request.traceparent,
        payload=ErasedPayload(subjects=subjects, opt_outs=kept),
    )


async def _redact_unsealed(conn: AsyncConnection, forms: set[str], keys: set[str]) -> int:
    """Events stored before sealing existed that name the person: redacted in place."""
    payload = events.c.body["payload"]
    names = sorted(forms | keys)
    named = or_(*(payload[f].astext.in_(names) for f in _PERSON_FIELDS))
    rows = await conn.execute(
        select(events.c.seq, events.c.body).where(
            events.c.type.in_(list(PERSONAL_FIELDS)),
            ~payload.has_key("sealed"),
            named,
        )
    )
    count = 0
    for row in list(rows):
        if count == 0:  # the event store's guard lets this transaction redact (migration 0008)
            await conn.execute(text("SELECT set_config('ledger.erasure', 'on', true)"))
        body: dict[str, Any] = row.body
        country = await _country(conn, body)
        fixed = body | {"payload": redacted(body["type"], body["payload"], country)}
        await conn.execute(update(events).where(events.c.seq == row.seq).values(body=fixed))
        count += 1
    return count


async def _country(conn: AsyncConnection, body: dict[str, Any]) -> str | None:
    """The recipient country the read model kept for an accepted notification."""
    if body.get("type") != "notification.accepted" or not body.get("notification_id"):
        return None
    found = await conn.execute(
        select(notifications.c.recipient_country).where(
            cast(notifications.c.id, Text) == str(body["notification_id"])
        )
    )
    return found.scalar_one_or_none()
