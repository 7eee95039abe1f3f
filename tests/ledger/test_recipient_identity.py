"""Recipients keyed by identity in the ledger: every form of one person shares a window and
a suppression, a BSUID-only user is keyed by the BSUID (and reaches the number an earlier
message paired it with), a number change moves opt-outs and the window, migration 0007
re-keys old rows, and a rebuild gives the same state."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import Stack

from ledger import store
from ledger.main import MIGRATIONS
from ledger.rebuild import compare
from ledger.tables import LIVE
from notif_core import events as ev
from notif_core.db import make_engine, upgrade
from notif_core.identity import recipient_key
from notif_core.ids import new_id

SENDER = "100000000000001"
T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def inbound(
    words: str, at: datetime, who: str | None = None, user_id: str | None = None
) -> ev.MessageInboundReceived:
    return ev.MessageInboundReceived(
        producer="test",
        occurred_at=at,
        payload=ev.InboundPayload(
            wamid=f"wamid.{new_id()}",
            from_=who,
            user_id=user_id,
            phone_number_id=SENDER,
            type="text",
            text=words,
            received_at=at,
        ),
    )


def opted_in(who: str, at: datetime) -> ev.RecipientOptedIn:
    return ev.RecipientOptedIn(
        producer="test",
        occurred_at=at,
        payload=ev.OptPayload(phone_number_id=SENDER, recipient=who, source="api"),
    )


def number_changed(old: str, new: str, at: datetime) -> ev.RecipientNumberChanged:
    return ev.RecipientNumberChanged(
        producer="test",
        occurred_at=at,
        payload=ev.NumberChangedPayload(phone_number_id=SENDER, old=old, new=new, changed_at=at),
    )


def unique(prefix: str, width: int) -> str:
    return prefix + f"{new_id().int % 10**width:0{width}d}"


async def state(engine: AsyncEngine, key: str) -> tuple[bool, list[str]]:
    """(window row exists, active suppression scopes) for one key."""
    async with engine.connect() as conn:
        window = (
            await conn.execute(
                text("SELECT 1 FROM ledger.windows WHERE phone_number_id = :s AND recipient = :r"),
                {"s": SENDER, "r": key},
            )
        ).first()
        scopes = await conn.execute(
            text(
                "SELECT scope FROM ledger.suppressions WHERE recipient = :r "
                "AND since IS NOT NULL AND (lifted_at IS NULL OR since > lifted_at) ORDER BY scope"
            ),
            {"r": key},
        )
        return window is not None, [r.scope for r in scopes]


async def append(engine: AsyncEngine, *batch: ev.Event) -> None:
    for event in batch:
        async with engine.begin() as conn:
            await store.append(conn, [event])


async def test_every_form_of_a_number_is_one_window_and_one_opt_out(engine: AsyncEngine) -> None:
    local = unique("55", 8)  # a Mexican mobile's ten digits
    mexico_id, dialled = "+521" + local, "+52" + local
    await append(engine, inbound("STOP", T0, who=mexico_id))
    assert await state(engine, dialled) == (True, ["all"])
    assert await state(engine, mexico_id) == (False, [])  # no row under the id's own form
    await append(engine, opted_in(dialled, T0 + timedelta(seconds=1)))  # START by another form
    assert await state(engine, dialled) == (True, [])

    brazil = unique("", 7)
    await append(engine, inbound("hi", T0, who="+55828" + brazil))  # the 9-less id
    assert (await state(engine, "+558298" + brazil))[0] is False  # keys are not dialled forms
    assert (await state(engine, recipient_key("+5582" + "98" + brazil)))[0] is True


async def test_a_bsuid_only_stop_suppresses_the_bsuid_and_the_number_it_was_seen_with(
    engine: AsyncEngine,
) -> None:
    bsuid, number = unique("US.", 20), unique("+1415", 7)
    lone = unique("BR.", 16)
    await append(engine, inbound("STOP", T0, user_id=lone))
    assert await state(engine, lone) == (True, ["all"])
    await append(
        engine,
        inbound("hi", T0, who=number, user_id=bsuid),
        inbound("STOP", T0 + timedelta(seconds=1), user_id=bsuid),
    )
    assert await state(engine, bsuid) == (True, ["all"])
    assert await state(engine, number) == (True, ["all"])
    async with engine.connect() as conn:
        key = (
            await conn.execute(
                text("SELECT key FROM ledger.recipient_aliases WHERE alias = :a"), {"a": bsuid}
            )
        ).scalar_one()
    assert key == number


async def test_a_bsuid_stop_projected_before_the_pairing_reaches_the_number(
    engine: AsyncEngine,
) -> None:
    """Events may be projected out of order: a BSUID-only STOP first, then the older message
    that paired the BSUID with the number. The number ends suppressed all the same."""
    bsuid, number = unique("US.", 20), unique("+1415", 7)
    await append(engine, inbound("STOP", T0 + timedelta(seconds=1), user_id=bsuid))
    assert await state(engine, number) == (False, [])
    await append(engine, inbound("hi", T0, who=number, user_id=bsuid))
    assert await state(engine, number) == (True, ["all"])


async def test_a_number_change_moves_the_opt_out_and_the_window(engine: AsyncEngine) -> None:
    old, new = unique("+5215512", 6), unique("+5215598", 6)
    await append(engine, inbound("STOP", T0, who=old))
    await append(engine, number_changed(old, new, T0 + timedelta(seconds=1)))
    assert await state(engine, "+52" + new[4:]) == (True, ["all"])
    assert await state(engine, "+52" + old[4:]) == (False, [])


async def test_a_rebuild_gives_the_same_identity_state(stack: Stack) -> None:
    from ledger.main import migrate

    url = stack.new_database("identity")
    await asyncio.to_thread(migrate, url)
    engine = make_engine(url, pool_size=2, application_name="tests")
    try:
        bsuid, number = "US.13491208655302741918", "+14155550123"
        await append(
            engine,
            inbound("hi", T0, who="+5215587654321"),
            inbound("STOP", T0, who="+558287654321"),
            inbound("hi", T0, who=number, user_id=bsuid),
            inbound("STOP", T0 + timedelta(seconds=1), user_id=bsuid),
            number_changed("+558287654321", "+558299990000", T0 + timedelta(seconds=2)),
            opted_in("+5215587654321", T0 + timedelta(seconds=3)),
        )
        assert set((await compare(engine)).values()) == {0}
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT count(*) FROM ledger.suppressions"))).scalar()
        assert rows == 5  # the moved STOP, the BSUID and its number, two scopes lifted by START
    finally:
        await engine.dispose()


async def test_migration_0007_rekeys_and_merges_keeping_the_latest(stack: Stack) -> None:
    url = stack.new_database("rekey")
    await asyncio.to_thread(upgrade, MIGRATIONS, url, "ledger", "0006")
    engine = make_engine(url, pool_size=1, application_name="tests")
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO ledger.windows VALUES (:s, '+5215587654321', :t1), "
                    "(:s, '+525587654321', :t0), (:s, '+5582987654321', :t0)"
                ),
                {"s": SENDER, "t0": T0, "t1": T0 + timedelta(hours=1)},
            )
            await conn.execute(
                text(
                    "INSERT INTO ledger.suppressions VALUES "
                    "(:s, '+5215512340000', 'all', 'keyword', :t1, NULL), "
                    "(:s, '+525512340000', 'all', 'api', :t0, :t0)"
                ),
                {"s": SENDER, "t0": T0, "t1": T0 + timedelta(hours=1)},
            )
        await asyncio.to_thread(upgrade, MIGRATIONS, url, "ledger", "head")
        async with engine.connect() as conn:
            windows = (
                await conn.execute(
                    text("SELECT recipient, last_inbound_at FROM ledger.windows ORDER BY 1")
                )
            ).all()
            suppressions = (
                await conn.execute(
                    text("SELECT recipient, source, since, lifted_at FROM ledger.suppressions")
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(w) for w in windows] == [
        ("+525587654321", T0 + timedelta(hours=1)),
        ("+558287654321", T0),
    ]
    assert [tuple(s) for s in suppressions] == [
        ("+525512340000", "keyword", T0 + timedelta(hours=1), T0)
    ]


async def test_pairings_recorded_together_keep_the_latest_of_each_alias(
    engine: AsyncEngine,
) -> None:
    bsuid, other = unique("US.", 12), unique("+4477009", 5)
    first, second, third = (unique("4477009", 5) for _ in range(3))
    async with engine.begin() as conn:
        await store.record_aliases(
            conn,
            LIVE,
            [
                (bsuid, first, "sent", T0 + timedelta(seconds=2)),
                (bsuid, second, "sent", T0),  # older, though given later
                (other, third, "sent", T0),
            ],
        )
    async with engine.begin() as conn:  # an older pairing arriving late changes nothing
        await store.record_alias(conn, LIVE, bsuid, second, "inbound", T0)
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT alias, key FROM ledger.recipient_aliases WHERE alias IN (:a, :b)"),
            {"a": bsuid, "b": other},
        )
        keys: dict[str, str] = dict(rows.tuples().all())
    assert keys == {bsuid: first, other: third}
