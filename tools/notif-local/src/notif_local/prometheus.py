"""A local Prometheus for ``make run``, when the ``prometheus`` binary is installed (Debian's
package): it scrapes the service processes every 5 s and evaluates the project's alert rules,
so the metrics and alerts can be seen at http://127.0.0.1:9090 without any cluster."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from notif_local.stack import Ports

DEFAULT_PORT = 9090
RULES = Path("charts/whatsapp-notif/files/prometheus/alerts.yml")


def port() -> int | None:
    """The port it will listen on, or None: it will not run (no binary, or
    ``PROMETHEUS_PORT=0``)."""
    number = int(os.environ.get("PROMETHEUS_PORT", DEFAULT_PORT))
    return number if number and shutil.which("prometheus") else None


def prepare(root: Path, ports: Ports, rules: Path = RULES) -> str | None:
    """Write the config and return the command line, or None (see :func:`port`)."""
    binary = shutil.which("prometheus")
    port = int(os.environ.get("PROMETHEUS_PORT", DEFAULT_PORT))
    if binary is None or port == 0:
        return None
    targets = [
        f"127.0.0.1:{p}"
        for p in (ports.ingest, ports.relay, ports.ledger, ports.callbacks, ports.dispatcher)
    ]
    config = {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "rule_files": [str(rules.resolve())] if rules.exists() else [],
        "scrape_configs": [
            {"job_name": "whatsapp-notif", "static_configs": [{"targets": targets}]}
        ],
    }
    path = root / "prometheus.yml"
    path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is valid YAML
    return (
        f"{binary} --config.file={path} --storage.tsdb.path={root / 'prometheus'} "
        f"--web.listen-address=127.0.0.1:{port} --log.level=warn"
    )
