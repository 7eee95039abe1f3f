"""The tenant's account, run by the API process (``notif-ingest``) and used by ``notifctl``.

API keys (``keys``), the secrets that sign status callbacks (``callback_secrets``), the
suppression list (``suppressions``), usage and cost reports (``usage``) and the erasure of a
recipient (``erasure``).
"""
