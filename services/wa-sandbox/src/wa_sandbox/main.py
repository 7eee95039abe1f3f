"""``wa-sandbox``: the Cloud API simulator alone, on 127.0.0.1:3900 by default."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from wa_sandbox.app import create_app
from wa_sandbox.config import load


def run() -> None:
    config = load(sys.argv[1] if len(sys.argv) > 1 else None)
    logging.basicConfig(level=logging.WARNING)
    print(
        f"wa-sandbox on http://{config.host}:{config.port} "
        f"({len(config.senders)} sender(s), {len(config.templates)} template(s), "
        f"webhooks to {config.webhook_url or 'nowhere'})",
        flush=True,
    )
    web.run_app(create_app(config), host=config.host, port=config.port, access_log=None, print=None)
