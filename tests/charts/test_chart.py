"""The chart's promises, read from what ``helm template`` renders (no cluster here: the
objects are checked for what they say, and ``make helm-check`` validates their schemas)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "whatsapp-notif"
HELM = ROOT / ".cache" / "tools" / "helm"
EXAMPLES = sorted((ROOT / "k8s" / "values").glob("*.yaml"))
SECRET_KEYS = ("DATABASE_URL", "REDIS_URL", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET")


def render(*args: str) -> list[dict[str, Any]]:
    assert HELM.exists(), "helm is missing: `make helm-check` (run by `make test`) fetches it"
    done = subprocess.run(
        [str(HELM), "template", "notif", str(CHART), *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def refuse(*args: str) -> str:
    done = subprocess.run(
        [str(HELM), "template", "notif", str(CHART), *args], capture_output=True, text=True
    )
    assert done.returncode != 0, "helm accepted values it should refuse"
    return done.stderr


RENDERINGS = {
    "default": [],
    **{p.stem: [f"--values={p}"] for p in EXAMPLES},
    "hpa": ["--set=dispatcher.autoscaling.mode=hpa", "--set=ledger.autoscaling.mode=hpa"],
}


@pytest.fixture(params=list(RENDERINGS), scope="module")
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(*RENDERINGS[request.param])


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            yield f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]["spec"]
        elif obj["kind"] == "Pod":
            yield f"Pod/{obj['metadata']['name']}", obj["spec"]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_no_container_runs_as_root(objects: list[dict[str, Any]]) -> None:
    specs = list(pod_specs(objects))
    assert len(specs) >= 6  # four Deployments, the migration Job, the helm test Pod
    for name, spec in specs:
        pod = spec.get("securityContext", {})
        assert pod.get("runAsNonRoot") is True, name
        assert pod.get("runAsUser", 0) != 0, name
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        for container in spec["containers"] + spec.get("initContainers", []):
            ctx = container["securityContext"]
            assert ctx["runAsNonRoot"] is True, (name, container["name"])
            assert ctx["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert ctx["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert ctx["capabilities"]["drop"] == ["ALL"], (name, container["name"])
            assert ctx.get("runAsUser", 10001) != 0


def test_every_deployment_has_probes_resources_and_a_budget(
    objects: list[dict[str, Any]],
) -> None:
    deployments = by_kind(objects, "Deployment")
    assert {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in deployments} == {
        "ingest",
        "relay",
        "dispatcher",
        "ledger",
        "callbacks",
    }
    budgets = {p["metadata"]["name"] for p in by_kind(objects, "PodDisruptionBudget")}
    for deployment in deployments:
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["readinessProbe"]["httpGet"]["path"] == "/v1/health"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]
        assert len(spec["topologySpreadConstraints"]) == 2
        assert deployment["metadata"]["name"] in budgets


def test_the_dispatcher_outlives_its_drain(objects: list[dict[str, Any]]) -> None:
    drain = int(next(o for o in by_kind(objects, "ConfigMap"))["data"]["DRAIN_SECONDS"])
    for deployment in by_kind(objects, "Deployment"):
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        if deployment["metadata"]["name"].endswith("dispatcher"):
            assert grace > drain + 10  # drain, plus one Cloud API timeout


def test_the_dispatcher_scales_on_the_dispatch_queues() -> None:
    keda = render()
    (scaled,) = [
        o for o in by_kind(keda, "ScaledObject") if o["metadata"]["name"].endswith("dispatcher")
    ]
    assert scaled["spec"]["scaleTargetRef"]["name"].endswith("-dispatcher")
    triggers = scaled["spec"]["triggers"]
    assert {t["type"] for t in triggers} == {"aws-sqs-queue"}
    assert [t["metadata"]["queueURL"] for t in triggers] == [
        "notif-dispatch-high",
        "notif-dispatch",
    ]
    assert all(t["metadata"]["queueLength"] == "200" for t in triggers)
    assert all(t["authenticationRef"]["name"] for t in triggers)
    (auth,) = by_kind(keda, "TriggerAuthentication")
    assert auth["spec"]["podIdentity"]["provider"] == "aws"
    ledger = next(
        o for o in by_kind(keda, "ScaledObject") if o["metadata"]["name"].endswith("ledger")
    )
    assert [t["metadata"]["queueURL"] for t in ledger["spec"]["triggers"]] == ["notif-events"]

    hpa = render("--set=dispatcher.autoscaling.mode=hpa")
    (external,) = [
        o
        for o in by_kind(hpa, "HorizontalPodAutoscaler")
        if o["metadata"]["name"].endswith("dispatcher")
    ]
    queues = [
        m["external"]["metric"]["selector"]["matchLabels"]["queue"]
        for m in external["spec"]["metrics"]
    ]
    assert queues == ["notif-dispatch-high", "notif-dispatch"]
    assert not [
        o for o in by_kind(hpa, "ScaledObject") if o["metadata"]["name"].endswith("dispatcher")
    ]


def test_ingest_scales_on_cpu_and_alone_is_exposed() -> None:
    objects = render("--set=ingress.enabled=true")
    (hpa,) = [
        o
        for o in by_kind(objects, "HorizontalPodAutoscaler")
        if o["metadata"]["name"].endswith("ingest")
    ]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    (ingress,) = by_kind(objects, "Ingress")
    backends = {
        p["backend"]["service"]["name"]
        for r in ingress["spec"]["rules"]
        for p in r["http"]["paths"]
    }
    assert backends == {"notif-whatsapp-notif-ingest"}
    paths = [p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
    assert paths == ["/v1", "/webhooks/whatsapp"]


def test_the_relay_runs_from_the_ingest_image_and_scales_on_cpu() -> None:
    objects = render()
    deployments = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in by_kind(objects, "Deployment")
    }
    (relay,) = deployments["relay"]["spec"]["template"]["spec"]["containers"]
    (ingest,) = deployments["ingest"]["spec"]["template"]["spec"]["containers"]
    assert relay["image"] == ingest["image"]
    assert relay["command"] == ["notif-relay"]
    assert "command" not in ingest  # the image's own entrypoint: the API
    config = next(
        o for o in by_kind(objects, "ConfigMap") if not o["metadata"]["name"].endswith("-migrate")
    )
    assert config["data"]["RELAY_PORT"] == str(relay["ports"][0]["containerPort"])
    (hpa,) = [
        o
        for o in by_kind(objects, "HorizontalPodAutoscaler")
        if o["metadata"]["name"].endswith("-relay")
    ]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployments["relay"]["metadata"]["name"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    policies = by_kind(render("--set=networkPolicy.enabled=true"), "NetworkPolicy")
    (policy,) = [p for p in policies if p["metadata"]["name"].endswith("-relay")]
    assert policy["spec"]["ingress"][0]["from"] == [{"namespaceSelector": {}}]


def test_callbacks_run_apart_from_the_ledger_from_its_image() -> None:
    objects = render()
    deployments = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in by_kind(objects, "Deployment")
    }
    (callbacks,) = deployments["callbacks"]["spec"]["template"]["spec"]["containers"]
    (ledger,) = deployments["ledger"]["spec"]["template"]["spec"]["containers"]
    assert callbacks["image"] == ledger["image"]
    assert callbacks["command"] == ["notif-ledger", "callbacks"]
    assert "command" not in ledger  # the image's own entrypoint: the projection
    config = next(
        o for o in by_kind(objects, "ConfigMap") if not o["metadata"]["name"].endswith("-migrate")
    )
    port = callbacks["ports"][0]["containerPort"]
    assert config["data"]["CALLBACKS_PORT"] == str(port)
    assert port != ledger["ports"][0]["containerPort"]
    (hpa,) = [
        o
        for o in by_kind(objects, "HorizontalPodAutoscaler")
        if o["metadata"]["name"].endswith("-callbacks")
    ]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployments["callbacks"]["metadata"]["name"]


def test_the_migration_hook_runs_before_the_deployments(objects: list[dict[str, Any]]) -> None:
    (job,) = by_kind(objects, "Job")
    hooks = job["metadata"]["annotations"]
    assert set(hooks["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    spec = job["spec"]["template"]["spec"]
    steps = [c["name"] for c in spec["initContainers"]] + [c["name"] for c in spec["containers"]]
    assert steps == ["migrate-ingest", "migrate-dispatcher", "migrate-ledger"]
    assert all(c["args"] == ["migrate"] for c in spec["initContainers"] + spec["containers"])
    # What the Job reads exists before it: its ConfigMap is an earlier hook.
    (config,) = [
        o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"].endswith("-migrate")
    ]
    assert int(config["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        hooks["helm.sh/hook-weight"]
    )
    refs = {
        e["configMapRef"]["name"] for e in spec["containers"][0]["envFrom"] if "configMapRef" in e
    }
    assert refs == {config["metadata"]["name"]}
    for deployment in by_kind(objects, "Deployment"):
        assert "helm.sh/hook" not in deployment["metadata"].get("annotations", {})


def test_secrets_are_not_inlined(objects: list[dict[str, Any]]) -> None:
    assert by_kind(objects, "Secret") == []
    for config in by_kind(objects, "ConfigMap"):
        assert not set(config["data"]) & set(SECRET_KEYS), config["metadata"]["name"]
    for name, spec in pod_specs(objects):
        for container in spec["containers"] + spec.get("initContainers", []):
            assert not [e for e in container.get("env", []) if "value" in e], name
            if name.startswith("Pod/"):
                continue
            sources = container["envFrom"]
            assert any("secretRef" in s for s in sources), name


def test_values_that_would_inline_a_secret_or_run_as_root_are_refused() -> None:
    refuse("--set=config.DATABASE_URL=postgresql://u:p@db/notif")
    refuse("--set=securityContext.runAsNonRoot=false")
    refuse("--set=securityContext.readOnlyRootFilesystem=false")
    refuse("--set=dispatcher.autoscaling.mode=cron")
    assert "existingSecret" in refuse("--set=existingSecret=")


def test_optional_objects_follow_their_switches() -> None:
    quiet = {o["kind"] for o in render()}
    assert not quiet & {"ServiceMonitor", "PrometheusRule", "Ingress"}
    loud = render(
        "--set=metrics.serviceMonitor.enabled=true",
        "--set=metrics.prometheusRule.enabled=true",
        "--set=metrics.prometheusRule.runbookBaseUrl=https://example.com/repo/",
        "--set=metrics.dashboards.enabled=true",
    )
    (rule,) = by_kind(loud, "PrometheusRule")
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    assert len(alerts) == 13
    assert all(
        a["annotations"]["runbook_url"].startswith("https://example.com/repo/docs/runbook.md#")
        for a in alerts
    )
    dashboards = [
        o
        for o in by_kind(loud, "ConfigMap")
        if o["metadata"].get("labels", {}).get("grafana_dashboard")
    ]
    assert len(dashboards) == 3
    (monitor,) = by_kind(loud, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
