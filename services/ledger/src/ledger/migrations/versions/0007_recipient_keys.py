"""Windows and suppressions keyed by the recipient's identity, not by the form it came in.

Rows written under another form of the same person (``+525587654321`` and
``+5215587654321``) are re-keyed to ``notif_core.identity.recipient_key`` and merged: the
latest inbound for a window; the latest opt-out and the latest opt-in for a suppression,
the source going with the latest opt-out. ``recipient_aliases`` records the other forms.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from notif_core.identity import recipient_key

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

S = "ledger"


def _latest(values: Iterable[datetime | None]) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _rekey_windows(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.text(f"SELECT phone_number_id, recipient, last_inbound_at FROM {S}.windows")  # noqa: S608
    ).all()
    merged: dict[tuple[str, str], datetime] = {}
    moved = False
    for sender, recipient, at in rows:
        key = recipient_key(recipient)
        moved |= key != recipient
        merged[(sender, key)] = max(at, merged.get((sender, key), at))
    if not moved:
        return
    conn.execute(sa.text(f"DELETE FROM {S}.windows"))  # noqa: S608
    conn.execute(
        sa.text(
            f"INSERT INTO {S}.windows (phone_number_id, recipient, last_inbound_at) "  # noqa: S608
            "VALUES (:s, :r, :at)"
        ),
        [{"s": s, "r": r, "at": at} for (s, r), at in sorted(merged.items())],
    )


def _rekey_suppressions(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.text(
            "SELECT phone_number_id, recipient, scope, source, since, lifted_at "  # noqa: S608
            f"FROM {S}.suppressions"
        )
    ).all()
    groups: dict[tuple[str, str, str], list[Any]] = {}
    moved = False
    for row in rows:
        key = recipient_key(row.recipient)
        moved |= key != row.recipient
        groups.setdefault((row.phone_number_id, key, row.scope), []).append(row)
    if not moved:
        return
    merged = []
    for (sender, key, scope), group in sorted(groups.items()):
        since = _latest(r.since for r in group)
        newest = max(group, key=lambda r: (r.since is not None, r.since or datetime.min))
        merged.append(
            {
                "s": sender,
                "r": key,
                "scope": scope,
                "source": newest.source,
                "since": since,
                "lifted": _latest(r.lifted_at for r in group),
            }
        )
    conn.execute(sa.text(f"DELETE FROM {S}.suppressions"))  # noqa: S608
    conn.execute(
        sa.text(
            f"INSERT INTO {S}.suppressions "  # noqa: S608
            "(phone_number_id, recipient, scope, source, since, lifted_at) "
            "VALUES (:s, :r, :scope, :source, :since, :lifted)"
        ),
        merged,
    )


def upgrade() -> None:
    op.create_table(
        "recipient_aliases",
        sa.Column("alias", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("alias"),
        schema=S,
    )
    op.create_index("recipient_aliases_by_key", "recipient_aliases", ["key"], schema=S)
    conn = op.get_bind()
    conn.execute(sa.text(f"LOCK TABLE {S}.windows, {S}.suppressions IN EXCLUSIVE MODE"))
    _rekey_windows(conn)
    _rekey_suppressions(conn)


def downgrade() -> None:
    """Keys stay as they are (each is a valid form of its recipient); the aliases go."""
    op.drop_index("recipient_aliases_by_key", "recipient_aliases", schema=S)
    op.drop_table("recipient_aliases", schema=S)
