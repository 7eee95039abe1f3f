"""The JSON every parser in the pipeline carries (I-JSON): the rules, and the byte limits
of SQS batches."""

from __future__ import annotations

import pytest

from notif_core.json_rules import MAX_DEPTH, MAX_SAFE_INTEGER, first_violation
from notif_core.sqs.limits import MAX_BATCH, MAX_BATCH_BYTES, MAX_MESSAGE_BYTES
from notif_core.sqs.publisher import Outgoing, chunks


def nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "value",
    [
        {"n": MAX_SAFE_INTEGER, "m": -MAX_SAFE_INTEGER, "f": 1.5e15, "s": "x", "b": True},
        {"tiny": 1e-300, "negative_zero": -0.0, "f": float(MAX_SAFE_INTEGER)},
        {"list": [None, 0, -0.0, "", [], {}]},
        nested(MAX_DEPTH),
    ],
)
def test_values_every_parser_carries_pass(value: object) -> None:
    assert first_violation(value) is None


@pytest.mark.parametrize(
    ("value", "path", "problem"),
    [
        ({"n": 10**400}, ("n",), "outside"),
        ({"n": 12345678901234567890123}, ("n",), "outside"),
        ({"n": MAX_SAFE_INTEGER + 1}, ("n",), "outside"),
        ({"n": -MAX_SAFE_INTEGER - 1}, ("n",), "outside"),
        ({"x": [1, {"y": float("inf")}]}, ("x", 1, "y"), "finite"),
        ({"x": float("nan")}, ("x",), "finite"),
        ({"x": float("-inf")}, ("x",), "finite"),
        ({"x": {1, 2}}, ("x",), "not a JSON value"),
        ({"x": 1.0e308}, ("x",), "outside"),  # jsonb would give back 309 digits
        ({"x": -1e22}, ("x",), "outside"),
    ],
)
def test_numbers_some_parser_refuses_are_named_with_their_path(
    value: object, path: tuple[object, ...], problem: str
) -> None:
    violation = first_violation(value)
    assert violation is not None
    assert violation.path == path
    assert problem in violation.problem


def test_the_first_violation_in_document_order_is_reported() -> None:
    violation = first_violation({"a": [1, 2**60], "b": float("inf")})
    assert violation is not None
    assert violation.path == ("a", 1)


def test_nesting_beyond_the_bound_is_refused_without_recursion() -> None:
    too_deep = first_violation(nested(MAX_DEPTH + 1))
    assert too_deep is not None
    assert "deeper" in too_deep.problem
    # far beyond Python's recursion limit: an iterative walk still answers
    very_deep = first_violation(nested(100_000))
    assert very_deep is not None
    assert len(very_deep.path) == MAX_DEPTH


def test_depth_alone_ignores_numbers() -> None:
    assert first_violation({"n": 10**400}, numbers=False) is None
    assert first_violation(nested(10), 5, numbers=False) is not None


def message(size: int, n: int = 0) -> Outgoing:
    return Outgoing(f"e{n}", "notification.accepted", "x" * size)


def test_batches_respect_both_the_count_and_the_byte_limit() -> None:
    small = [message(100, i) for i in range(25)]
    assert [len(c) for c in chunks(small)] == [MAX_BATCH, MAX_BATCH, 5]
    big = [message(250_000, i) for i in range(10)]
    cut = list(chunks(big))
    assert [len(c) for c in cut] == [1] * 10
    mixed = [message(120_000, 0), message(120_000, 1), message(30_000, 2), message(10, 3)]
    sizes = [sum(m.size for m in c) for c in chunks(mixed)]
    assert all(size <= MAX_BATCH_BYTES for size in sizes)
    assert [m.event_id for c in chunks(mixed) for m in c] == ["e0", "e1", "e2", "e3"]


def test_a_message_counts_its_attributes() -> None:
    plain = Outgoing("e", "notification.sent", "{}")
    traced = Outgoing("e", "notification.sent", "{}", "00-" + "a" * 32 + "-" + "b" * 16 + "-01")
    assert traced.size > plain.size > 2
    assert not message(MAX_MESSAGE_BYTES).fits
    assert message(MAX_MESSAGE_BYTES - 100).fits
