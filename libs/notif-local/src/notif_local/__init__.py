"""The local stack behind ``make run`` and the end-to-end tests.

Embedded PostgreSQL, a local SQS endpoint and an embedded Valkey stand in for RDS, SQS and
ElastiCache, each only when its URL is not configured. Nothing here ships in a service image.
"""
