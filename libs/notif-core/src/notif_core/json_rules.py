"""The JSON every part of the pipeline can carry: checked once, at the door.

Free-form values (a notification's ``metadata``, template ``components``) are written by
ingest, parsed by the relay, the dispatcher and the ledger, stored in PostgreSQL ``jsonb``
and posted to customers' receivers. Each of those parsers has its own limits: orjson and
JavaScript refuse or round integers beyond 64 bits or 2⁵³, ``jsonb`` refuses ``NaN`` and
``Infinity``, and every recursive parser has a depth limit. A value one of them refuses,
once accepted, would stop the pipeline behind it. So ingest accepts only the intersection,
the I-JSON profile (RFC 7493, section 2):

- integers within ±(2⁵³-1), the range every JSON parser represents exactly;
- finite numbers only, and no larger in magnitude than that either: PostgreSQL's ``jsonb``
  stores numbers as decimals and writes ``1e22`` back as a 23-digit integer, which the
  first rule would refuse;
- at most :data:`MAX_DEPTH` levels of nesting inside a free-form value.

The walk is iterative, so a value nested beyond Python's recursion limit is refused rather
than crashing the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

MAX_SAFE_INTEGER: Final = 2**53 - 1
"""Largest integer every JSON parser holds exactly (IEEE 754 double; RFC 7493 §2.2)."""
MAX_DEPTH: Final = 32
"""Deepest nesting of objects and arrays inside one free-form value."""


@dataclass(frozen=True)
class Violation:
    """Where a value breaks the rules (``path`` from the value's root) and how."""

    path: tuple[str | int, ...]
    problem: str


def first_violation(
    value: Any, max_depth: int = MAX_DEPTH, *, numbers: bool = True
) -> Violation | None:
    """The first place ``value`` (already parsed JSON) breaks the rules, or None; with
    ``numbers=False`` only the depth is checked."""
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(value, (), 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        if not numbers and isinstance(item, int | float):
            continue
        if isinstance(item, int):
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return Violation(path, "is an integer outside ±(2^53-1)")
            continue
        if isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                return Violation(path, "is not a finite number")
            if abs(item) > MAX_SAFE_INTEGER:
                # PostgreSQL's jsonb gives 1e22 back as a 23-digit integer literal
                return Violation(path, "is a number outside ±(2^53-1)")
            continue
        if isinstance(item, dict | list):
            if depth >= max_depth:
                return Violation(path, f"nests deeper than {max_depth} levels")
            children = list(item.items() if isinstance(item, dict) else enumerate(item))
            # reversed, so that the stack pops them in document order
            stack.extend((child, (*path, key), depth + 1) for key, child in reversed(children))
            continue
        return Violation(path, f"is not a JSON value ({type(item).__name__})")
    return None
