"""Inbound messages: what a customer's message says, in one documented shape per kind, and
which tenant receives it (the owner of the number it was sent to)."""
