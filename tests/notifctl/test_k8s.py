"""``notifctl k8s`` against a Kubernetes API double.

No API server can run here, so this is a test double: a local HTTP server answering the
requests the official client makes with canned responses written in the API's own JSON
shapes (a DeploymentList, an autoscaling/v2 HPA list, KEDA ScaledObjects), and recording
every request, so the test sees exactly what the CLI asked of the cluster. Queue depths
come from the real local SQS endpoint.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from tests.conftest import Stack

from notifctl.cli import main

NS = "/apis/apps/v1/namespaces/notif/deployments"


def deployment(component: str, replicas: int, ready: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"notif-whatsapp-notif-{component}",
            "namespace": "notif",
            "labels": {
                "app.kubernetes.io/instance": "notif",
                "app.kubernetes.io/component": component,
            },
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/component": component}},
            "template": {"metadata": {}, "spec": {"containers": []}},
        },
        "status": {"replicas": replicas, "readyReplicas": ready},
    }


def hpa(name: str, target: str, current: int, desired: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "notif"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 1,
            "maxReplicas": 10,
        },
        "status": {"currentReplicas": current, "desiredReplicas": desired},
    }


RESPONSES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", NS): {
        "kind": "DeploymentList",
        "apiVersion": "apps/v1",
        "metadata": {},
        "items": [
            deployment("ingest", 3, 3),
            deployment("dispatcher", 4, 2),
            deployment("ledger", 1, 1),
        ],
    },
    ("GET", "/apis/autoscaling/v2/namespaces/notif/horizontalpodautoscalers"): {
        "kind": "HorizontalPodAutoscalerList",
        "apiVersion": "autoscaling/v2",
        "metadata": {},
        "items": [
            hpa("notif-whatsapp-notif-ingest", "notif-whatsapp-notif-ingest", 3, 3),
            hpa(
                "keda-hpa-notif-whatsapp-notif-dispatcher",
                "notif-whatsapp-notif-dispatcher",
                4,
                6,
            ),
        ],
    },
    ("GET", "/apis/keda.sh/v1alpha1/namespaces/notif/scaledobjects"): {
        "kind": "ScaledObjectList",
        "apiVersion": "keda.sh/v1alpha1",
        "metadata": {},
        "items": [
            {
                "apiVersion": "keda.sh/v1alpha1",
                "kind": "ScaledObject",
                "metadata": {"name": "notif-whatsapp-notif-dispatcher", "namespace": "notif"},
                "spec": {"scaleTargetRef": {"name": "notif-whatsapp-notif-dispatcher"}},
            }
        ],
    },
    ("PATCH", f"{NS}/notif-whatsapp-notif-ledger/scale"): {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": "notif-whatsapp-notif-ledger", "namespace": "notif"},
        "spec": {"replicas": 3},
        "status": {"replicas": 1},
    },
    ("PATCH", f"{NS}/notif-whatsapp-notif-ingest"): deployment("ingest", 3, 3),
}


class ApiDouble(BaseHTTPRequestHandler):
    requests: list[tuple[str, str, str, dict[str, Any] | None]]

    def _answer(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.requests.append((self.command, url.path, url.query, body))
        answer = RESPONSES.get((self.command, url.path))
        payload = json.dumps(answer or {"kind": "Status", "code": 404}).encode()
        self.send_response(200 if answer else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _answer
    do_PATCH = _answer

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Path, list[Any]]]:
    requests: list[Any] = []
    handler = type("Double", (ApiDouble,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "double",
                        "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"},
                    }
                ],
                "users": [{"name": "ops", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": "double", "context": {"cluster": "double", "user": "ops"}}],
                "current-context": "double",
            }
        )
    )
    yield kubeconfig, requests
    server.shutdown()


def notifctl(kubeconfig: Path, *args: str) -> int:
    return main(["k8s", "--kubeconfig", str(kubeconfig), *args])


def test_status_shows_replicas_autoscalers_and_queue_depth(
    stack: Stack, cluster: tuple[Path, list[Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig, requests = cluster
    assert notifctl(kubeconfig, "status") == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(rows) == {"ingest", "dispatcher", "ledger"}
    assert "2/4" in rows["dispatcher"]
    assert "ScaledObject notif-whatsapp-notif-dispatcher" in rows["dispatcher"]
    assert "4->6" in rows["dispatcher"]
    assert "dispatch-high " in rows["dispatcher"]
    assert "dispatch " in rows["dispatcher"]
    assert "HPA notif-whatsapp-notif-ingest" in rows["ingest"]
    assert "events " in rows["ledger"]
    (listing,) = [r for r in requests if r[1] == NS]
    assert "labelSelector=app.kubernetes.io/instance%3Dnotif" in listing[2]


def test_scale_is_refused_while_an_autoscaler_owns_the_replicas(
    cluster: tuple[Path, list[Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig, requests = cluster
    assert notifctl(kubeconfig, "scale", "dispatcher", "9") == 3
    assert "ScaledObject notif-whatsapp-notif-dispatcher owns" in capsys.readouterr().out
    assert notifctl(kubeconfig, "scale", "ingest", "9") == 3
    assert [r for r in requests if r[0] == "PATCH"] == []


def test_scale_and_restart_patch_the_deployment(cluster: tuple[Path, list[Any]]) -> None:
    kubeconfig, requests = cluster
    assert notifctl(kubeconfig, "scale", "ledger", "3") == 0
    assert notifctl(kubeconfig, "restart", "ingest") == 0
    patches = [(path, body) for method, path, _, body in requests if method == "PATCH"]
    assert patches[0] == (f"{NS}/notif-whatsapp-notif-ledger/scale", {"spec": {"replicas": 3}})
    path, body = patches[1]
    assert path == f"{NS}/notif-whatsapp-notif-ingest"
    annotations = body["spec"]["template"]["metadata"]["annotations"]
    assert set(annotations) == {"kubectl.kubernetes.io/restartedAt"}
