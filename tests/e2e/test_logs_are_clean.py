"""No full phone number and no secret in any service's logs, after traffic that puts
numbers and keys everywhere: sends, a failure, inbound STOP, bad requests, a wrong key."""

from __future__ import annotations

import json
import re
import time

import httpx

from tests.conftest import Stack, recipient
from tests.e2e.api import hello, open_window, post, wait_status
from tests.e2e.services import Services

NUMBER = re.compile(r"\+?1415\d{7}")
"""Every test recipient is +1415 and seven digits."""


def test_logs_hold_no_phone_number_or_key(stack: Stack, services: Services, api_key: str) -> None:
    sent_to, failed_to, stop_from = recipient(), recipient(), recipient()
    nid = post(services, api_key, hello(sent_to)).json()["id"]
    wait_status(services, api_key, nid, "read", timeout=30)
    bad = post(services, api_key, {"to": failed_to, "text": {"body": "outside the window"}})
    wait_status(services, api_key, bad.json()["id"], "failed", timeout=30)
    open_window(services, stack.database_url, stop_from)
    httpx.post(
        services.url("sandbox") + "/_sandbox/inbound", json={"from": stop_from, "text": "STOP"}
    )
    wrong_key = "wn_live_" + "x" * 43
    assert post(services, wrong_key, hello(sent_to)).status_code == 401
    assert post(services, api_key, {"to": sent_to + "99999", "text": {}}).status_code == 422
    time.sleep(2)  # the ledger logs the inbound batch

    lines = [
        line
        for path in sorted(services.log_dir.glob("*.log"))
        for line in path.read_text(errors="replace").splitlines()
    ]
    assert len(lines) > 20
    leaks = [line for line in lines if NUMBER.search(line)]
    assert leaks == []
    secrets = (api_key, api_key.removeprefix("wn_live_"), wrong_key.removeprefix("wn_live_"))
    assert [line for line in lines if any(s in line for s in secrets)] == []
    structured = [json.loads(line) for line in lines if line.startswith("{")]
    assert {"ingest", "dispatcher", "ledger"} <= {entry.get("service") for entry in structured}
    assert all("level" in entry for entry in structured)
    masked = [e for e in structured if e.get("to") and "•" in str(e.get("to"))]
    assert masked  # numbers are logged, masked
