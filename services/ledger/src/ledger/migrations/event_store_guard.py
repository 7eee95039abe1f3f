"""The event store's guard (``ledger.events_are_append_only``), written by migrations.

``ledger.events`` refuses UPDATE, DELETE and TRUNCATE, except where a transaction set a
named flag with ``set_config(…, true)`` (it ends with the transaction): erasure may redact
events stored before sealing (0008), the retention purge may delete (0009). Each migration
replaces the function with the exceptions in force from then on, so the text lives here
once.
"""

from __future__ import annotations


def _allow(operation: str, flag: str, row: str) -> str:
    return (
        f"    IF TG_OP = '{operation}' AND current_setting('{flag}', true) = 'on' THEN\n"
        f"        RETURN {row};\n    END IF;\n"
    )


ERASURE_MAY_REDACT = _allow("UPDATE", "ledger.erasure", "NEW")
PURGE_MAY_DELETE = _allow("DELETE", "ledger.retention_purge", "OLD")


def guard(*exceptions: str) -> str:
    """``CREATE OR REPLACE`` of the guard function letting ``exceptions`` through."""
    return (
        "CREATE OR REPLACE FUNCTION ledger.events_are_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$\nBEGIN\n"
        + "".join(exceptions)
        + "    RAISE EXCEPTION 'ledger.events is append-only (% refused)', TG_OP;\nEND $$;\n"
    )
