"""The alert rules and dashboards against a real Prometheus (Debian's 2.42, installed by
``make test``): promtool checks and unit-tests the rules, and a Prometheus scraping the
running services answers every dashboard and rule expression with at least one series."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from tests.conftest import Stack, recipient
from tests.e2e.api import hello, post, wait_status
from tests.e2e.services import Services

from notif_local.ports import free_port, wait_for_port

FILES = Path(__file__).parents[2] / "charts" / "whatsapp-notif" / "files"
RULES = FILES / "prometheus" / "alerts.yml"
RULE_TESTS = FILES / "prometheus" / "alerts_test.yml"
DASHBOARDS = sorted((FILES / "dashboards").glob("*.json"))
THRESHOLD = re.compile(r"\s*(==|!=|>=|<=|>|<)\s*[0-9.e+-]+\s*$")


def binary(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing: `make test` installs Debian's prometheus package"
    return found


def rule_expressions() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [(r["alert"], r["expr"]) for g in groups for r in g["rules"]]


def dashboard_expressions() -> list[tuple[str, str]]:
    return [
        (f"{path.stem}: {panel['title']}", target["expr"])
        for path in DASHBOARDS
        for panel in json.loads(path.read_text())["panels"]
        for target in panel["targets"]
    ]


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    check = subprocess.run(
        [binary("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 21 rules found" in check.stdout
    tested = subprocess.run(
        [binary("promtool"), "test", "rules", RULE_TESTS.name],
        capture_output=True,
        text=True,
        cwd=RULE_TESTS.parent,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_rule_points_to_a_runbook_section() -> None:
    runbook = (FILES.parents[2] / "docs" / "runbook.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in runbook.splitlines()
        if line.startswith("## ")
    }
    groups = yaml.safe_load(RULES.read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("docs/runbook.md#"), rule["alert"]
        assert url.split("#", 1)[1] in anchors, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}


@pytest.fixture
def prometheus(services: Services, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    targets = [
        f"127.0.0.1:{services.ports[n]}" for n in ("ingest", "relay", "ledger", "dispatcher")
    ]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": "whatsapp-notif", "static_configs": [{"targets": targets}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [
            binary("prometheus"),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
    )
    try:
        wait_for_port(port, 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(15)


def query(base: str, expr: str) -> dict[str, object]:
    answer = httpx.get(base + "/api/v1/query", params={"query": expr}, timeout=10).json()
    assert isinstance(answer, dict)
    return answer


def test_every_expression_answers_from_the_running_services(
    stack: Stack, services: Services, api_key: str, prometheus: str
) -> None:
    for _ in range(3):  # a short load: sends, a failure, a client error
        nid = post(services, api_key, hello(recipient())).json()["id"]
        wait_status(services, api_key, nid, "read", timeout=30)
    failed = post(services, api_key, {"to": recipient(), "text": {"body": "no window"}})
    wait_status(services, api_key, failed.json()["id"], "failed", timeout=30)
    assert post(services, api_key, {"to": "nope"}).status_code == 422

    deadline = time.monotonic() + 60
    up: list[object] = []
    while time.monotonic() < deadline:
        up = query(prometheus, "up == 1")["data"]["result"]  # type: ignore[index]
        if len(up) == 4:
            break
        time.sleep(0.5)
    assert len(up) == 4, up
    time.sleep(4)  # a few scrapes, so rate() has two points

    expressions = [(n, THRESHOLD.sub("", e.strip())) for n, e in rule_expressions()]
    expressions += dashboard_expressions()
    assert len(expressions) > 40
    empty = []
    for name, expr in expressions:
        answer = query(prometheus, expr)
        assert answer["status"] == "success", (name, expr, answer)
        if not answer["data"]["result"]:  # type: ignore[index]
            empty.append((name, expr))
    assert empty == []
    rules = httpx.get(prometheus + "/api/v1/rules").json()["data"]["groups"]
    assert sum(len(g["rules"]) for g in rules) == 21  # Prometheus loaded every rule
    assert all(r["health"] == "ok" for g in rules for r in g["rules"])
