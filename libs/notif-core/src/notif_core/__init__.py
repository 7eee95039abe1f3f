"""Shared library of whatsapp-notif: settings, event contracts, SQS transport, database helpers.

Nothing service-specific lives here; every service depends on it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("notif-core")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
