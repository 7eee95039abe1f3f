"""Meta's webhook intake, run by the API process (``notif-ingest``).

The signature check and translation into events (``meta_webhooks``), the durable inbox that
stores a body with its events in the outbox before the 200 (``webhook_inbox``), and the marks
of inbound messages written in that same transaction (``inbound_marks``).
"""
