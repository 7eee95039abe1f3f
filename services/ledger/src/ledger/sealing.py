"""Crypto-shredding of the event store: personal fields sealed under a key per person.

``ledger.events`` is append-only, yet a person may ask to be erased (GDPR Art. 17). So the
personal fields of each event (``notif_core.erasure.PERSONAL_FIELDS``: the recipient, the
message, metadata, an inbound's text…) are stored encrypted with AES-256-GCM under a data
key of the person the event is about, kept in ``ledger.subject_keys`` and found by the
person's pseudonym. Erasure deletes the person's keys: their events stay, in order, but
read back :func:`notif_core.erasure.redacted`, and a rebuild folds them as such.

A sealed payload holds its other fields in clear and::

    "sealed": {"kid": "<uuid of the key>", "nonce": "<b64>", "data": "<b64 ciphertext>",
               "country": "BR" | null}

``data`` is the JSON of the personal fields; the event id is the associated data, so a
ciphertext cannot be moved to another event. ``country`` (of an accepted notification's
recipient) stays readable, since prices and the usage report depend on it. Bodies stored
before sealing existed have no ``sealed``: they are read as they are, and erasure redacts
them in place (``ledger.erasure``).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID, uuid4

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.tables import subject_keys
from notif_core.erasure import PERSONAL_FIELDS, deployment_pseudonym, redacted, subject
from notif_core.events import Event, parse_event

SEALED = "sealed"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _keys(conn: AsyncConnection, subjects: set[str]) -> dict[str, tuple[UUID, bytes]]:
    """The data key of each subject (pseudonym), created when it has none."""
    if not subjects:
        return {}
    fresh = [
        {"kid": uuid4(), "subject": s, "key": AESGCM.generate_key(bit_length=256)}
        for s in sorted(subjects)
    ]
    await conn.execute(
        insert(subject_keys).on_conflict_do_nothing(index_elements=["subject"]), fresh
    )
    rows = await conn.execute(
        select(subject_keys.c.subject, subject_keys.c.kid, subject_keys.c.key).where(
            subject_keys.c.subject.in_(subjects)
        )
    )
    return {r.subject: (r.kid, bytes(r.key)) for r in rows}


async def sealed_bodies(
    conn: AsyncConnection, events: Sequence[Event], country: Mapping[int, str]
) -> list[dict[str, Any]]:
    """The stored body of each event, personal fields sealed. ``country``: per index of an
    accepted notification, its recipient's country."""
    bodies = [e.model_dump(mode="json", by_alias=True) for e in events]
    owners: dict[int, str] = {}
    for i, body in enumerate(bodies):
        who = subject(body["type"], body["payload"])
        if who is not None:
            owners[i] = deployment_pseudonym(who)
    keys = await _keys(conn, set(owners.values()))
    for i, owner in owners.items():
        body, (kid, key) = bodies[i], keys[owner]
        payload = body["payload"]
        personal = {f: payload.pop(f) for f in PERSONAL_FIELDS[body["type"]] if f in payload}
        nonce = os.urandom(12)
        data = AESGCM(key).encrypt(
            nonce, json.dumps(personal).encode(), str(body["event_id"]).encode()
        )
        payload[SEALED] = {
            "kid": str(kid),
            "nonce": _b64(nonce),
            "data": _b64(data),
            "country": country.get(i),
        }
    return bodies


async def opened(conn: AsyncConnection, bodies: Sequence[Any]) -> list[Event]:
    """Stored bodies back as events: sealed fields decrypted, or redacted where the
    person's key is gone (erased)."""
    kids = {
        UUID(b["payload"][SEALED]["kid"])
        for b in bodies
        if isinstance(b, dict) and SEALED in b.get("payload", {})
    }
    keys: dict[UUID, bytes] = {}
    if kids:
        rows = await conn.execute(
            select(subject_keys.c.kid, subject_keys.c.key).where(subject_keys.c.kid.in_(kids))
        )
        keys = {r.kid: bytes(r.key) for r in rows}
    return [parse_event(json.dumps(_open(body, keys))) for body in bodies]


def _open(body: Any, keys: dict[UUID, bytes]) -> Any:
    if not isinstance(body, dict) or SEALED not in body.get("payload", {}):
        return body
    payload = dict(body["payload"])
    seal = payload.pop(SEALED)
    key = keys.get(UUID(seal["kid"]))
    if key is not None:
        try:
            personal = AESGCM(key).decrypt(
                base64.b64decode(seal["nonce"]),
                base64.b64decode(seal["data"]),
                str(body["event_id"]).encode(),
            )
            return body | {"payload": payload | json.loads(personal)}
        except InvalidTag:
            pass
    fields = dict.fromkeys(PERSONAL_FIELDS.get(body["type"], ()), "")
    return body | {"payload": redacted(body["type"], payload | fields, seal.get("country"))}
