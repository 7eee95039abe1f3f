"""The outbox relay, its own process (``notif-relay``, :func:`ingest.relay.process.run`).

``outbox`` is the table's module: the API's writers add rows to it in their own transactions
and the relay claims and publishes them to SQS. ``retention`` is the ingest schema's
housekeeping, which the relay runs. Nothing here is imported at package level, so the API's
writers can use ``outbox`` without loading the relay process.
"""
