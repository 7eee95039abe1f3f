"""The chart's promises, read from what ``helm template`` renders (no cluster here: the
objects are checked for what they say, and ``make helm-check`` validates their schemas)."""

from __future__ import annotations

import ast
import importlib
import ipaddress
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "whatsapp-notif"
HELM = ROOT / ".cache" / "tools" / "helm"
EXAMPLES = sorted((ROOT / "k8s" / "values").glob("*.yaml"))
SECRET_KEYS = (
    "DATABASE_URL",
    "REDIS_URL",
    "WHATSAPP_ACCESS_TOKEN",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "RECIPIENT_PSEUDONYM_KEY",
    "API_KEYS",
    "SENTRY_DSN",
)
WORKLOADS = ("ingest", "relay", "dispatcher", "ledger", "callbacks")
OBSERVABILITY = {"SENTRY_DSN", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS"}
STATIC_AWS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
WEBHOOK = {"WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"}
REQUIRED_SECRETS = {
    "ingest": {"DATABASE_URL", "REDIS_URL", "RECIPIENT_PSEUDONYM_KEY"} | WEBHOOK,
    "relay": {"DATABASE_URL", "RECIPIENT_PSEUDONYM_KEY"} | WEBHOOK,
    "dispatcher": {
        "DATABASE_URL",
        "REDIS_URL",
        "WHATSAPP_ACCESS_TOKEN",
        "RECIPIENT_PSEUDONYM_KEY",
    },
    "ledger": {"DATABASE_URL", "RECIPIENT_PSEUDONYM_KEY"},
    "callbacks": {"DATABASE_URL", "RECIPIENT_PSEUDONYM_KEY"},
    "migrate": {"DATABASE_URL"},
}
"""The keys of existingSecret each process must get, and (with OPTIONAL_SECRETS) all it gets."""
OPTIONAL_SECRETS = {
    "ingest": {"API_KEYS"} | OBSERVABILITY,
    "relay": {"WHATSAPP_ACCESS_TOKEN"} | STATIC_AWS | OBSERVABILITY,
    "dispatcher": STATIC_AWS | OBSERVABILITY,
    "ledger": STATIC_AWS | OBSERVABILITY,
    "callbacks": OBSERVABILITY,
    "migrate": set(),
}
PACKAGES = {
    "ingest": ("ingest", "relay"),
    "dispatcher": ("dispatcher",),
    "ledger": ("ledger", "callbacks"),
}
"""Each service package and the processes that run from it."""
READS = {
    "DATABASE_URL": (".database_url",),
    "REDIS_URL": (".redis_url",),
    "WHATSAPP_ACCESS_TOKEN": (".whatsapp_access_token",),
    "WHATSAPP_APP_SECRET": (".whatsapp_app_secret",),
    "WHATSAPP_VERIFY_TOKEN": (".whatsapp_verify_token",),
    "API_KEYS": (".api_keys",),
    "RECIPIENT_PSEUDONYM_KEY": (
        ".recipient_pseudonym_key",
        "deployment_pseudonym(",
        "deployment_secret(",
    ),
}
"""How a package's source reads a secret (an attribute of its settings; the pseudonym key
also through notif_core.erasure)."""
PRIVATE = [
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
    )
]
PUBLIC_PATHS = [
    "/v1/notifications",
    "/v1/recipients",
    "/v1/suppressions",
    "/v1/callbacks",
    "/v1/callback-secrets",
    "/v1/usage",
    "/v1/templates",
    "/v1/inbound",
    "/v1/media",
    "/webhooks/whatsapp",
]


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
    "everything-on": ["--set=ingress.enabled=true", "--set=metrics.serviceMonitor.enabled=true"],
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


def component(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["labels"]["app.kubernetes.io/component"])


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
        # /health fails once the consumer loop stops beating (dispatcher, ledger):
        # test_worker_liveness_follows_the_consumer_heartbeat.
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["startupProbe"]["httpGet"]["path"] == "/health"
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
    assert paths == PUBLIC_PATHS  # test_the_ingress_routes_the_api_and_the_webhook_only


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
            # Never the whole Secret: one key at a time (test_each_pod_gets_only_its_own_secrets).
            assert not [s for s in container.get("envFrom", []) if "secretRef" in s], name


def secret_env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Variable name → its secretKeyRef."""
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def test_each_pod_gets_only_its_own_secrets(objects: list[dict[str, Any]]) -> None:
    names, seen = set(), set()
    for name, spec in pod_specs(objects):
        for container in spec["containers"] + spec.get("initContainers", []):
            refs = secret_env(container)
            if name.startswith("Pod/"):  # the helm test Pod reads nothing secret
                assert refs == {}, name
                continue
            process = "migrate" if name.startswith("Job/") else name.rsplit("-", 1)[-1]
            seen.add(process)
            assert set(refs) == REQUIRED_SECRETS[process] | OPTIONAL_SECRETS[process], name
            for key, ref in refs.items():
                assert ref["key"] == key, (name, key)
                names.add(ref["name"])
                assert ref.get("optional", False) == (key in OPTIONAL_SECRETS[process]), (
                    name,
                    key,
                )
    assert seen == set(REQUIRED_SECRETS)
    assert len(names) == 1  # existingSecret, and nothing else


def package_source(package: str) -> str:
    src = ROOT / "services" / package / "src" / package
    return "\n".join(
        p.read_text() for p in sorted(src.rglob("*.py")) if "migrations" not in p.parts
    )


def checked_at_start(package: str) -> set[str]:
    """The secrets a package's processes refuse to start without against Meta
    (``sandbox_secrets``, run by ``notif_core.runtime.refuse_to_start``), read from its
    settings class with every field at its default."""
    module = importlib.import_module(f"{package}.settings")
    (cls,) = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, BaseSettings) and c.__module__ == module.__name__
    ]
    check = getattr(cls.model_construct(), "sandbox_secrets", None)
    return set(check()) if check is not None else set()


def test_the_secret_map_follows_what_the_code_reads() -> None:
    """A package that starts reading a secret, or checking it at start, fails here until its
    processes get it; a package given a secret it neither reads nor checks fails too."""
    deployments = {component(d): d for d in by_kind(render(), "Deployment")}
    for package, processes in PACKAGES.items():
        source = package_source(package)
        checked = checked_at_start(package)
        given = set().union(
            *(
                secret_env(deployments[p]["spec"]["template"]["spec"]["containers"][0])
                for p in processes
            )
        )
        for process in processes:
            assert checked <= REQUIRED_SECRETS[process], (process, checked)
        for key, marks in READS.items():
            reads = any(mark in source for mark in marks)
            assert (reads or key in checked) == (key in given), (package, key)


def public_only(peer: dict[str, Any]) -> bool:
    """An ipBlock of every address but the private, shared and link-local ranges."""
    block = peer.get("ipBlock")
    if block is None or block["cidr"] not in ("0.0.0.0/0", "::/0"):
        return False
    excepted = [ipaddress.ip_network(e) for e in block.get("except", [])]
    family = ipaddress.ip_network(block["cidr"]).version
    return all(
        any(p.subnet_of(e) for e in excepted if e.version == p.version)  # type: ignore[arg-type]
        for p in PRIVATE
        if p.version == family
    )


def rule_ports(rule: dict[str, Any]) -> set[int]:
    return {int(p["port"]) for p in rule.get("ports", [])}


def test_every_process_has_its_own_egress_walls(objects: list[dict[str, Any]]) -> None:
    policies = {component(p): p["spec"] for p in by_kind(objects, "NetworkPolicy")}
    assert set(policies) == {*WORKLOADS, "migrate"}
    ports = {5432: "database", 6379: "redis", 53: "dns"}
    for process, spec in policies.items():
        assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == process
        assert set(spec["policyTypes"]) == {"Ingress", "Egress"}, process
        reached: dict[str, set[int]] = {"public": set(), "named": set()}
        for rule in spec["egress"]:
            # An empty `to` (or a rule with none) allows every address: never rendered.
            assert rule.get("to"), (process, rule)
            assert rule.get("ports"), (process, rule)
            public = [p for p in rule["to"] if public_only(p)]
            if public:
                assert len(public) == len(rule["to"]) == 2, (process, rule)  # IPv4 and IPv6
                reached["public"] |= rule_ports(rule)
            else:
                for peer in rule["to"]:
                    assert "ipBlock" not in peer or peer["ipBlock"]["cidr"] not in (
                        "0.0.0.0/0",
                        "::/0",
                    ), (process, rule)
                reached["named"] |= rule_ports(rule)
        named = {ports.get(p, p) for p in reached["named"]}
        assert {"dns", "database"} <= named, process
        # Redis only where it is used; the deliverer and the Job reach nothing private but
        # DNS and the database.
        assert ("redis" in named) == (process in ("ingest", "dispatcher")), process
        if process in ("callbacks", "migrate"):
            assert named == {"dns", "database"}, process
        if process == "migrate":
            assert reached["public"] == set()
            assert spec["ingress"] == []
        elif process == "callbacks":
            assert 443 in reached["public"]
            assert reached["public"] <= {443, 80}
        else:
            assert reached["public"] == {443}, process


def test_egress_walls_can_be_lowered_but_not_widened() -> None:
    lowered = by_kind(render("--set=networkPolicy.egress.enabled=false"), "NetworkPolicy")
    assert {component(p) for p in lowered} == set(WORKLOADS)
    assert all(p["spec"]["policyTypes"] == ["Ingress"] for p in lowered)
    assert all("egress" not in p["spec"] for p in lowered)
    # An allowance with neither cidrs nor peers renders no rule rather than an open one.
    closed = render(
        "--set-json=networkPolicy.egress.redis.cidrs=[]",
        '--set-json=networkPolicy.egress.database.cidrs=["10.1.0.0/16"]',
    )
    for policy in by_kind(closed, "NetworkPolicy"):
        assert 6379 not in set().union(*(rule_ports(r) for r in policy["spec"]["egress"]))
        db = [r for r in policy["spec"]["egress"] if 5432 in rule_ports(r)]
        assert [r["to"] for r in db] == [[{"ipBlock": {"cidr": "10.1.0.0/16"}}]]
    assert "to" in refuse("--set=networkPolicy.egress.extra[0].ports[0].port=22")
    refuse("--set=networkPolicy.egress.receivers.ports[0]=0")
    refuse("--set=networkPolicy.egress.database.cidrs[0]=not-a-cidr")
    refuse("--set=networkPolicy.egress.internet.except[0]=10.0.0.0/8")


def test_budgets_never_block_a_drain(objects: list[dict[str, Any]]) -> None:
    budgets = by_kind(objects, "PodDisruptionBudget")
    assert {component(b) for b in budgets} == set(WORKLOADS)
    for budget in budgets:
        assert budget["spec"]["maxUnavailable"] == 1
        assert "minAvailable" not in budget["spec"]
        assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    refuse("--set=dispatcher.pdb.minAvailable=1")
    refuse("--set=dispatcher.pdb.maxUnavailable=0")


def route_paths(routes: Iterable[object]) -> set[str]:
    """Paths of an app's routes, those outside its OpenAPI document included (routers that
    FastAPI includes lazily are walked through)."""
    paths = set()
    for route in routes:
        if isinstance(path := getattr(route, "path", None), str):
            paths.add(path)
        if (router := getattr(route, "original_router", None)) is not None:
            paths |= route_paths(router.routes)
    return paths


def test_the_ingress_routes_the_api_and_the_webhook_only() -> None:
    from ingest.main import create_app
    from ingest.settings import IngestSettings

    (ingress,) = by_kind(render("--set=ingress.enabled=true"), "Ingress")
    rules = [p for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
    assert [p["path"] for p in rules] == PUBLIC_PATHS
    assert {p["pathType"] for p in rules} == {"Prefix"}

    def routed(path: str) -> bool:  # Prefix matching: whole path segments
        return any(path == p or path.startswith(p + "/") for p in PUBLIC_PATHS)

    app = create_app(IngestSettings())
    routes = set(app.openapi()["paths"]) | route_paths(app.routes)
    internal = {"/health", "/v1/health", "/metrics", "/openapi.json", "/docs", "/redoc"}
    # Kept off the public Ingress: probes (readiness reports the database and Redis), the
    # metrics, and the OpenAPI pages (docs/api.md is the public reference).
    assert internal <= routes
    for path in routes:
        public = path.startswith(("/v1/", "/webhooks/")) and path not in internal
        assert routed(path) == public, f"{path}: add an API resource to notif.publicPaths"


def probes_keywords(path: Path) -> set[str]:
    """Keyword arguments of the ``Probes(...)`` call in a worker's ``serve``."""
    tree = ast.parse(path.read_text())
    (serve,) = [n for n in tree.body if isinstance(n, ast.AsyncFunctionDef) and n.name == "serve"]
    (call,) = [
        n
        for n in ast.walk(serve)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Probes"
    ]
    return {k.arg for k in call.keywords if k.arg is not None}


def test_worker_liveness_follows_the_consumer_heartbeat() -> None:
    """The workers' livenessProbe is /health, which answers 503 once the consumer loop
    stops beating (tests/notif_core/test_outages.py): that holds only while each worker
    hands its consumer's Heartbeat to its probes, and while a long poll is shorter than
    the heartbeat's max age."""
    from notif_core.health import Heartbeat

    for service in ("dispatcher", "ledger"):
        main = ROOT / "services" / service / "src" / service / "main.py"
        assert "heartbeat" in probes_keywords(main), f"{main}: Probes without the heartbeat"
    objects = render()
    config = next(o for o in by_kind(objects, "ConfigMap"))["data"]
    assert int(config["SQS_WAIT_SECONDS"]) < Heartbeat().max_age
    for deployment in by_kind(objects, "Deployment"):
        if component(deployment) in ("dispatcher", "ledger"):
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            probe = container["livenessProbe"]
            assert probe["httpGet"]["path"] == "/health"
            # Restarted within a minute of the heartbeat going stale.
            assert probe["periodSeconds"] * probe["failureThreshold"] <= 60
