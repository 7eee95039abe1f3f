"""The HTTP edge of ``notif-ingest``: routes, dependencies, middleware, the request and
response models (``schemas``) and the one error shape (``errors``).

Everything a client or Meta's webhook meets first lives here; the routes hand the work to
``notifications``, ``account`` and ``webhooks`` and never talk to SQS.
"""
