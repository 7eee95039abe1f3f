"""Alembic environment of the dispatcher schema."""

from notif_core.db import run_alembic_env

run_alembic_env("dispatcher")
