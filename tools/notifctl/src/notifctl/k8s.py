"""``notifctl k8s``: the release on Kubernetes, through the official ``kubernetes`` client.

- ``status``: each Deployment's ready and desired replicas, its autoscaler (HPA, or KEDA's
  ScaledObject and the HPA it drives) with current and desired replicas, and the depth of
  the queues it consumes;
- ``restart SERVICE``: a rollout restart (what ``kubectl rollout restart`` does);
- ``scale SERVICE N``: refused while an autoscaler owns the replica count.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config

from notif_core.settings import CoreSettings
from notif_core.sqs.queues import QueueNames
from notifctl.sqs import queue_depths, sqs_client

SERVICES = ("ingest", "relay", "dispatcher", "ledger")
QUEUES = {"ingest": (), "dispatcher": ("dispatch-high", "dispatch"), "ledger": ("events",)}
REFUSED = 3
"""Exit code of a ``scale`` that an autoscaler would undo."""


def register(sub: Any) -> None:
    k8s = sub.add_parser("k8s", help="status, restart and scale on Kubernetes")
    k8s.add_argument("--namespace", "-n", default="notif")
    k8s.add_argument("--release", default="notif", help="the Helm release name")
    k8s.add_argument("--kubeconfig", help="default: in-cluster, else ~/.kube/config")
    actions = k8s.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="replicas, autoscalers and queue depth")
    status.add_argument("--no-queues", action="store_true", help="skip the SQS look-up")
    restart = actions.add_parser("restart", help="rollout restart of one service")
    restart.add_argument("service", choices=SERVICES)
    scale = actions.add_parser("scale", help="set replicas (unless autoscaled)")
    scale.add_argument("service", choices=SERVICES)
    scale.add_argument("replicas", type=int)


@dataclass(frozen=True)
class Release:
    namespace: str
    release: str

    def deployment(self, service: str) -> str:
        return f"{self.release}-whatsapp-notif-{service}"

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/instance={self.release}"


# The kubernetes package's config loaders and serializer carry no annotations.
def _load(kubeconfig: str | None) -> client.ApiClient:
    if kubeconfig:
        loaded: client.ApiClient = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        return loaded
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    return client.ApiClient()


def _plain(api: client.ApiClient, obj: object) -> dict[str, Any]:
    """An API object as the API's own JSON (camelCase keys), the shape the docs show."""
    plain: dict[str, Any] = api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
    return plain


def run(args: argparse.Namespace) -> int:
    api = _load(args.kubeconfig)
    target = Release(args.namespace, args.release)
    if args.action == "status":
        print(status(api, target, with_queues=not args.no_queues))
        return 0
    if args.action == "restart":
        restart(api, target, args.service)
        print(f"restarting {target.deployment(args.service)}")
        return 0
    owner = autoscaler_of(api, target, args.service)
    if owner is not None:
        print(
            f"refused: {owner} owns the replicas of {args.service}; "
            "change its minReplicas/maxReplicas in the chart's values instead"
        )
        return REFUSED
    scale(api, target, args.service, args.replicas)
    print(f"{target.deployment(args.service)} scaled to {args.replicas}")
    return 0


def _scaled_objects(api: client.ApiClient, target: Release) -> list[dict[str, Any]]:
    try:
        found = client.CustomObjectsApi(api).list_namespaced_custom_object(
            "keda.sh", "v1alpha1", target.namespace, "scaledobjects", label_selector=target.selector
        )
    except client.ApiException as exc:
        if exc.status == 404:  # KEDA not installed
            return []
        raise
    return list(_plain(api, found).get("items", []))


def _hpas(api: client.ApiClient, target: Release) -> list[dict[str, Any]]:
    """The namespace's HPAs as the API's JSON (KEDA's own ``keda-hpa-*`` included)."""
    found = client.AutoscalingV2Api(api).list_namespaced_horizontal_pod_autoscaler(target.namespace)
    return list(_plain(api, found).get("items", []))


def autoscaler_of(api: client.ApiClient, target: Release, service: str) -> str | None:
    """What owns the service's replica count: 'HPA <name>', 'ScaledObject <name>' or None."""
    name = target.deployment(service)
    for so in _scaled_objects(api, target):
        if so["spec"]["scaleTargetRef"]["name"] == name:
            return f"ScaledObject {so['metadata']['name']}"
    for hpa in _hpas(api, target):
        if hpa["spec"]["scaleTargetRef"]["name"] == name:
            return f"HPA {hpa['metadata']['name']}"
    return None


def restart(api: client.ApiClient, target: Release, service: str) -> None:
    stamp = datetime.now(UTC).isoformat()
    body = {
        "spec": {
            "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}
        }
    }
    client.AppsV1Api(api).patch_namespaced_deployment(
        target.deployment(service), target.namespace, body
    )


def scale(api: client.ApiClient, target: Release, service: str, replicas: int) -> None:
    client.AppsV1Api(api).patch_namespaced_deployment_scale(
        target.deployment(service), target.namespace, {"spec": {"replicas": replicas}}
    )


def status(api: client.ApiClient, target: Release, *, with_queues: bool) -> str:
    found = client.AppsV1Api(api).list_namespaced_deployment(
        target.namespace, label_selector=target.selector
    )
    deployments: list[dict[str, Any]] = _plain(api, found).get("items", [])
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in _hpas(api, target)}
    keda = {so["spec"]["scaleTargetRef"]["name"]: so for so in _scaled_objects(api, target)}
    depths = _queue_depths() if with_queues else {}
    lines = [f"{'service':<11} {'ready':>7} {'autoscaler':<34} {'replicas':>9}  queues"]
    for dep in sorted(deployments, key=lambda d: str(d["metadata"]["name"])):
        name = dep["metadata"]["name"]
        service = dep["metadata"].get("labels", {}).get("app.kubernetes.io/component", name)
        ready = f"{dep.get('status', {}).get('readyReplicas', 0)}/{dep['spec'].get('replicas', 0)}"
        hpa = hpas.get(name)
        scaler, replicas = "-", "-"
        if name in keda:
            scaler = f"ScaledObject {keda[name]['metadata']['name']}"
        elif hpa is not None:
            scaler = f"HPA {hpa['metadata']['name']}"
        if hpa is not None:
            now = hpa.get("status", {})
            replicas = f"{now.get('currentReplicas', 0)}->{now.get('desiredReplicas', 0)}"
        lanes = QUEUES.get(service, ())
        queues = ", ".join(f"{q} {depths[q]}" for q in lanes if q in depths)
        lines.append(f"{service:<11} {ready:>7} {scaler:<34} {replicas:>9}  {queues or '-'}")
    return "\n".join(lines)


def _queue_depths() -> dict[str, int]:
    """Visible plus in-flight messages per lane, as KEDA counts them."""

    settings = CoreSettings()
    names = QueueNames(settings.queue_prefix)
    lanes = ("dispatch-high", "dispatch", "events")
    with sqs_client(settings) as sqs:
        found = queue_depths(sqs, [f"{names.prefix}-{lane}" for lane in lanes])
    return {lane: found[f"{names.prefix}-{lane}"] for lane in lanes}
