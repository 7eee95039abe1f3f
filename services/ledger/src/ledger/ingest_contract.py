"""What the ledger reads of ingest's schema, the only module of the ledger that names it: the
functions ingest publishes (ingest migration 0007), never its tables.

Ingest owns the tenants and their callback secrets (the API rotates them); the callback
deliverer only signs with them.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import text

CALLBACK_SECRETS: Final = text(
    """
    SELECT tenant_id, secret FROM ingest.callback_secrets_v1()
    WHERE tenant_id = ANY(:tenants)
    ORDER BY created_at DESC
    """
)
"""The secrets in force of the tenants ``:tenants``, newest first: a callback is signed with
each, so a receiver may rotate without a gap."""
