"""Alembic environment of the ledger schema."""

from notif_core.db import run_alembic_env

run_alembic_env("ledger")
