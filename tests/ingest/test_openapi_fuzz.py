"""Schemathesis against the running ingest's own OpenAPI document: property-based requests
to every operation, authenticated, must never get a 5xx or an answer the schema does not
describe (status, content type, body, headers)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.e2e.services import Services

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
            case.call_and_validate(headers={"X-API-Key": api_key}, checks=CHECKS)

        run()
