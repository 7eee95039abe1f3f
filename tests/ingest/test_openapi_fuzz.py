"""Schemathesis against the running ingest's own OpenAPI document: property-based requests
to every operation, authenticated, must never get a 5xx or an answer the schema does not
describe (status, content type, body, headers). Then the property that makes the pipeline
trustworthy: every notification answered 202 during the fuzzing reaches a terminal status
(or ``sent`` and beyond), none stays ``accepted``; and a canary sent afterwards is ``read``
within 10 s, so nothing the fuzzer sent stopped anything behind it."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.conftest import recipient
from tests.e2e.api import get, hello, post, wait_status
from tests.e2e.services import Services

from notif_core.events import TERMINAL

pytestmark = pytest.mark.e2e
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_no_5xx_and_no_answer_off_schema(services: Services, api_key: str) -> None:
    # Driven through Hypothesis directly: schemathesis' pytest plugin does not load under
    # pytest 9 yet.
    schema = schemathesis.openapi.from_url(services.url("ingest") + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 8

    accepted: list[str] = []
    for operation in operations:

        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call_and_validate(headers={"X-API-Key": api_key}, checks=CHECKS)
            accepted.extend(accepted_ids(case.operation.path, case.method, response))

        run()

    canary = post(services, api_key, hello(recipient()))
    assert canary.status_code == 202, canary.text
    wait_status(services, api_key, canary.json()["id"], "read", timeout=10)

    assert accepted, "the fuzzer got no notification accepted: the property is untested"
    stuck = not_settled(services, api_key, accepted, within=60)
    assert not stuck, stuck[:5]


def accepted_ids(path: str, method: str, response: httpx.Response) -> list[str]:
    """The ids of notifications a fuzzed request got accepted (scheduled ones excepted)."""
    if method.upper() != "POST" or response.status_code != 202:
        return []
    body = response.json()
    if path == "/v1/notifications":
        return [body["id"]] if body.get("status") == "accepted" else []
    if path == "/v1/notifications/batch":
        return [r["id"] for r in body["results"] if r["status"] == "accepted"]
    return []


def not_settled(
    services: Services, key: str, ids: list[str], within: float
) -> list[dict[str, Any]]:
    """The notifications still short of ``sent`` or a terminal status after ``within``."""
    done = {"sent", "delivered", "read", *TERMINAL}
    deadline = time.monotonic() + within
    pending = list(ids)
    while pending and time.monotonic() < deadline:
        pending = [nid for nid in pending if get(services, key, nid)["status"] not in done]
        if pending:
            time.sleep(0.5)
    return [get(services, key, nid) for nid in pending]
