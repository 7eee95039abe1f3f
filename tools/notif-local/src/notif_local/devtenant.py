"""The development tenant and its API key, kept in ``.local/dev-api-key`` across runs.

The dev tenant holds the sandbox's sender (``WHATSAPP_PHONE_NUMBER_ID``), as a tenant of a
production deployment holds its numbers: the local stack runs with the same tenant walls as
production (``SINGLE_TENANT`` unset), so what works locally works deployed, and a second
tenant made with ``notifctl keys create`` needs a number of its own, as it would there.

Keys are ingest's business: this goes through ``notifctl keys ensure``, the operator's own
command, rather than ingest's modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from notif_core.settings import CoreSettings
from notif_local.lifetime import LocalStackError

DEV_TENANT = "dev"


def ensure_dev_key(database_url: str, key_file: Path, sender: str | None = None) -> str:
    """Reuse the saved key while it still authenticates; otherwise create one and save it.
    The dev tenant holds ``sender`` (default: ``WHATSAPP_PHONE_NUMBER_ID``) unless another
    tenant does."""
    saved = key_file.read_text().strip() if key_file.exists() else ""
    number = sender or CoreSettings().whatsapp_phone_number_id
    command = [
        str(Path(sys.executable).with_name("notifctl")),
        *("keys", "ensure", "--tenant", DEV_TENANT, "--phone-number-id", number),
        *("--skip-taken", "--key-stdin", "--json"),
    ]
    done = subprocess.run(
        command,
        input=saved + "\n",
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise LocalStackError(f"the development API key: {done.stderr.strip() or done.stdout}")
    key = str(json.loads(done.stdout)["key"])
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key
