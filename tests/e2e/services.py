"""The system's processes for end-to-end tests (shared with the benchmark and chaos runs)."""

from notif_local.cluster import Services

__all__ = ["Services"]
