"""Alembic environment of the ingest schema."""

from notif_core.db import run_alembic_env

run_alembic_env("ingest")
