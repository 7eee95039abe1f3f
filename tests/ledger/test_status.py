"""The status state machine: monotonic progress, sticky terminal states, idempotence."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.status import next_status
from notif_core.events import PROGRESS


def fold(statuses: list[str]) -> str | None:
    current: str | None = None
    for incoming in statuses:
        current = next_status(current, incoming) or current
    return current


def test_late_sent_never_downgrades_delivered() -> None:
    assert next_status("delivered", "sent") is None
    assert next_status("read", "delivered") is None


def test_duplicate_changes_nothing() -> None:
    for status in (*PROGRESS, "failed"):
        assert next_status(status, status) is None


def test_failed_wins_before_delivery_only() -> None:
    assert next_status("sent", "failed") == "failed"
    assert next_status("accepted", "failed") == "failed"
    assert next_status("delivered", "failed") is None


def test_delivered_after_failed_keeps_failed() -> None:
    assert next_status("failed", "delivered") is None
    assert next_status("failed", "read") is None


def test_pre_send_terminal_states_only_before_sent() -> None:
    assert next_status("accepted", "cancelled") == "cancelled"
    assert next_status("sent", "cancelled") is None
    assert next_status("scheduled", "expired") == "expired"
    assert next_status("cancelled", "sent") is None


@given(st.lists(st.sampled_from(PROGRESS), min_size=1, max_size=12))
def test_progress_ends_at_highest_whatever_the_order(statuses: list[str]) -> None:
    assert fold(statuses) == max(statuses, key=PROGRESS.index)


@given(st.permutations(["accepted", "sent", "delivered", "read"]), st.integers(0, 3))
def test_duplicating_an_event_changes_no_outcome(order: list[str], dup: int) -> None:
    with_duplicate = [*order[: dup + 1], order[dup], *order[dup + 1 :]]
    assert fold(with_duplicate) == fold(order) == "read"
