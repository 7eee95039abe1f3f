"""The write path and its reads, run by the API process (``notif-ingest``).

Accepting a notification (``accept``) with its ``Idempotency-Key`` (``idempotency``) in a
transaction shared by concurrent requests (``group_commit``), cancelling it at the dispatch
gate (``cancel``), and the queries clients read it back with (``read_model``).
"""
