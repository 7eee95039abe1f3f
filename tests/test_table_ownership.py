"""Each schema has one owner; every other package reads it only through the owner's published,
versioned contracts, from one module named for the owner.

Every ``.py`` under ``services/``, ``libs/`` and ``tools/`` is parsed; its string constants
(f-string parts included, docstrings and other bare string statements left out: they are
prose, never run) are searched for references to a schema, in any case, quoted or
spaced: in a string holding SQL (any SQL keyword) every ``schema.name`` counts, comma joins
and comments included; in other strings a name after ``FROM``, ``JOIN`` and the like, or a
call ``schema.name(``. Module paths such as ``"ingest.main"`` match neither. SQLAlchemy
tables declared with ``schema="..."`` count too. In a library, any ``schema.name`` counts.
A reference fails when

- (a) it is made outside the schema's owner and outside the reading package's one contract
  module for that owner, ``<package>/<owner>_contract.py``; libraries have none;
- (b) it is made outside the owner to anything but a published contract, a name ending in
  ``_v<digits>``.

Pure: no database. ``tests/test_published_contracts.py`` checks that each contract found
here exists in a migrated database.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("services", "libs", "tools")
SCHEMAS = ("ingest", "ledger", "dispatcher")
"""Each schema is owned by the package of the same name."""

_NAME = (
    r'(?i:(?<![\w.])"?(?P<schema>ingest|ledger|dispatcher)"?\s*\.\s*"?(?P<name>[a-z_][a-z0-9_]*)"?)'
)
"""``schema.name`` in any case, quoted or spaced: ``LEDGER.EVENTS``, ``"ledger"."events"``."""
_SQL = re.compile(
    r"(?i)\b(?:SELECT|FROM|JOIN|INSERT|UPDATE|DELETE|TRUNCATE|COPY|CREATE|ALTER|DROP|WITH|CALL"
    r"|LATERAL|EXISTS|RETURNING|TABLE)\b"
)
"""A string holding any of these is SQL: every ``schema.name`` in it counts (comma joins,
comments and subqueries included), while a module path such as ``"ingest.main"`` has none."""
_AFTER_KEYWORD = re.compile(
    r"(?i:\b(?:FROM|JOIN|INTO|UPDATE|TABLE|VIEW|FUNCTION|SELECT|EXISTS|LATERAL|CALL|USING|ON)"
    r"\s+(?:ONLY\s+)?)" + _NAME
)
_CALLED = re.compile(_NAME + r"\s*\(")
_ANY = re.compile(_NAME)
VERSIONED = re.compile(r"_v\d+$")


@dataclass(frozen=True, order=True)
class Reference:
    path: str
    line: int
    schema: str
    name: str


@dataclass(frozen=True)
class Violation:
    reference: Reference
    why: str

    def __str__(self) -> str:
        r = self.reference
        return f"{r.path}:{r.line}: {r.schema}.{r.name}: {self.why}"


def package_of(path: Path) -> tuple[str, Path | None]:
    """The importable package a file belongs to and that package's folder (None for a
    loose script): ``services/ingest/src/ingest/x.py`` is ``ingest``."""
    parts = path.parts
    if "src" in parts:
        i = parts.index("src")
        if i + 1 < len(parts) - 1:
            return parts[i + 1], Path(*parts[: i + 2])
    return parts[0], None


def sql_strings(source: str) -> list[tuple[int, str]]:
    """Every string constant of a module that is not prose: docstrings and other string
    statements are left out. f-strings contribute their literal parts."""
    tree = ast.parse(source)
    prose = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose
    ]


def references(path: str, source: str) -> list[Reference]:
    """SQL references; in a library, any ``schema.name`` (a library names no service's
    tables, not even as a metric label); in a service, also a string that is a schema's
    name and nothing more (``SCHEMA = "ledger"``, to be joined into SQL later)."""
    library = Path(path).parts[0] == "libs"
    service = Path(path).parts[0] == "services"
    found: set[Reference] = set()
    tables = table_schemas(source)
    for line, value in sql_strings(source):
        bare = value.strip().strip('"').lower()
        if service and bare in SCHEMAS and (line, bare) not in tables:
            found.add(Reference(path, line, bare, "<schema name>"))
        patterns = (_ANY,) if library or _SQL.search(value) else (_AFTER_KEYWORD, _CALLED)
        for pattern in patterns:
            for m in pattern.finditer(value):
                found.add(Reference(path, line, m["schema"].lower(), m["name"].lower()))
    for line, schema in tables:
        found.add(Reference(path, line, schema, "<sqlalchemy table>"))
    return sorted(found)


def table_schemas(source: str) -> list[tuple[int, str]]:
    """SQLAlchemy tables declared on a schema (``Table(..., schema="ledger")``): a table
    object names the schema's tables as surely as SQL text does."""
    return [
        (node.value.lineno, node.value.value.lower())
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.keyword)
        and node.arg == "schema"
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        and node.value.value.lower() in SCHEMAS
    ]


def violations(path: Path, source: str) -> list[Violation]:
    """What is wrong with the schema references of one file (``path`` relative to the
    repository)."""
    package, folder = package_of(path)
    out = []
    for ref in references(str(path), source):
        if ref.schema == package:
            continue
        contract = None if folder is None else folder / f"{ref.schema}_contract.py"
        if path != contract:
            out.append(
                Violation(ref, f"{package} names {ref.schema}'s schema outside {contract}")
                if contract is not None and path.parts[0] != "libs"
                else Violation(ref, f"{package} may not name {ref.schema}'s schema at all")
            )
        if not VERSIONED.search(ref.name):
            out.append(Violation(ref, f"not a published contract of {ref.schema} (_v<n>)"))
    return out


def sources() -> list[tuple[Path, str]]:
    files = sorted(
        p
        for root in SCANNED
        for p in (ROOT / root).rglob("*.py")
        if ".venv" not in p.parts and "node_modules" not in p.parts
    )
    return [(p.relative_to(ROOT), p.read_text(encoding="utf-8")) for p in files]


def foreign_references() -> list[Reference]:
    """Every reference a package makes to a schema it does not own, across the tree."""
    return [
        ref
        for path, source in sources()
        for ref in references(str(path), source)
        if ref.schema != package_of(path)[0]
    ]


def test_every_schema_is_read_only_through_its_owners_contracts() -> None:
    found = [str(v) for path, source in sources() for v in violations(path, source)]
    assert found == []


def test_the_scan_sees_the_contracts_in_use() -> None:
    """The scan finds the contracts the services are known to call: were it blind (a path
    that moved, a pattern that no longer matches), the test above would pass vacuously."""
    used = {(r.schema, r.name) for r in foreign_references()}
    assert {
        ("ingest", "inbound_mark_v1"),
        ("ingest", "inbound_messages_v1"),
        ("ledger", "stored_events_v1"),
        ("ledger", "opt_outs_v1"),
        ("ledger", "accepted_wamid_v1"),
        ("dispatcher", "cancel_v1"),
    } <= used


INGEST = Path("services/ingest/src/ingest/notifications/read.py")
INGEST_LEDGER_CONTRACT = Path("services/ingest/src/ingest/ledger_contract.py")
NOTIF_CORE = Path("libs/notif-core/src/notif_core/retention.py")


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        # A table of another service, read from ordinary code: both rules.
        (
            INGEST,
            'Q = "SELECT status FROM ledger.notifications WHERE id = :id"',
            [
                "ledger.notifications: ingest names ledger's schema outside "
                "services/ingest/src/ingest/ledger_contract.py",
                "ledger.notifications: not a published contract of ledger (_v<n>)",
            ],
        ),
        # The same table from the contract module: still not a contract.
        (
            INGEST_LEDGER_CONTRACT,
            'Q = "SELECT status FROM ledger.notifications WHERE id = :id"',
            ["ledger.notifications: not a published contract of ledger (_v<n>)"],
        ),
        # A contract, but from the wrong module.
        (
            INGEST,
            'Q = "SELECT status FROM ledger.notification_status_v1() AS l"',
            [
                "ledger.notification_status_v1: ingest names ledger's schema outside "
                "services/ingest/src/ingest/ledger_contract.py"
            ],
        ),
        # In an f-string, joined after another table, lower case.
        (
            INGEST,
            'Q = f"select 1 from ingest.notifications n left join dispatcher.claims c on {x}"',
            [
                "dispatcher.claims: ingest names dispatcher's schema outside "
                "services/ingest/src/ingest/dispatcher_contract.py",
                "dispatcher.claims: not a published contract of dispatcher (_v<n>)",
            ],
        ),
        # A function that is not versioned.
        (
            Path("services/dispatcher/src/dispatcher/ledger_contract.py"),
            'Q = "SELECT ledger.accepted_wamid(:id)"',
            ["ledger.accepted_wamid: not a published contract of ledger (_v<n>)"],
        ),
        # Other spellings of the same read: a comma join, upper case, quoted names, a
        # comment before the name, TRUNCATE, spaces around the dot.
        *(
            (
                INGEST,
                f"Q = {sql!r}",
                [
                    "ledger.events: ingest names ledger's schema outside "
                    "services/ingest/src/ingest/ledger_contract.py",
                    "ledger.events: not a published contract of ledger (_v<n>)",
                ],
            )
            for sql in (
                "SELECT 1 FROM ingest.notifications n, ledger.events e",
                "SELECT 1 FROM LEDGER.EVENTS",
                'SELECT 1 FROM "ledger"."events"',
                "SELECT 1 FROM ingest.notifications n JOIN /* x */ ledger.events e ON true",
                "TRUNCATE ledger.events",
                "SELECT 1 FROM ledger . events",
            )
        ),
        # A SQLAlchemy table declared on another service's schema.
        (
            INGEST,
            'EVENTS = Table("events", MetaData(), schema="ledger")',
            [
                "ledger.<sqlalchemy table>: ingest names ledger's schema outside "
                "services/ingest/src/ingest/ledger_contract.py",
                "ledger.<sqlalchemy table>: not a published contract of ledger (_v<n>)",
            ],
        ),
        # A schema's name alone, to be joined into SQL.
        (
            INGEST,
            'SCHEMA = "ledger"\nQ = f"SELECT status FROM {SCHEMA}.notifications"',
            [
                "ledger.<schema name>: ingest names ledger's schema outside "
                "services/ingest/src/ingest/ledger_contract.py",
                "ledger.<schema name>: not a published contract of ledger (_v<n>)",
            ],
        ),
        # A library names a service's table.
        (
            NOTIF_CORE,
            'TABLES = ("ingest.outbox",)',
            [
                "ingest.outbox: notif_core may not name ingest's schema at all",
                "ingest.outbox: not a published contract of ingest (_v<n>)",
            ],
        ),
    ],
)
def test_offending_sources_are_reported(path: Path, source: str, expected: list[str]) -> None:
    found = [str(v).split(": ", 1)[1] for v in violations(path, source)]
    assert found == expected


@pytest.mark.parametrize(
    "source",
    [
        '"""Reads ``ledger.notifications`` FROM the ledger; see ``dispatcher.claims``."""',
        'def f():\n    """SELECT * FROM ledger.notifications"""\n',
        'log = get_logger("ingest.access")\nrun = "ingest.main:run"\nm = "ledger.callbacks"',
        'Q = "SELECT * FROM ingest.outbox"',
        'Q = "SELECT ledger.notification_status_v1"',
    ],
)
def test_prose_module_paths_and_own_tables_pass(source: str) -> None:
    assert violations(Path("services/ingest/src/ingest/ledger_contract.py"), source) == []
