"""``make helm-check``: everything that can prove the chart without a cluster.

1. ``helm lint --strict``, with the default values and with every example values file;
2. ``helm template`` with each of those (plus every optional object switched on);
3. every rendered object validated with kubernetes-validate, strict, against Kubernetes
   ``KUBERNETES_VERSION``; custom resources (KEDA's ScaledObject and TriggerAuthentication,
   Prometheus Operator's ServiceMonitor and PrometheusRule), which kubernetes-validate has
   no schema for, against validators compiled from their published CRD schemas
   (``tools/crd_validate.mjs``, run by Node.js).

Writes the rendered manifests to ``.cache/helm-check/<name>.yaml`` for the chart's tests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "whatsapp-notif"
EXAMPLES = sorted((ROOT / "k8s" / "values").glob("*.yaml"))
OUT = ROOT / ".cache" / "helm-check"
KUBERNETES_VERSION = "1.33.0"
CUSTOM_RESOURCES = ("keda.sh/v1alpha1", "monitoring.coreos.com/v1")
EVERYTHING_ON = [
    "--set=ingress.enabled=true",
    "--set=metrics.serviceMonitor.enabled=true",
    "--set=metrics.prometheusRule.enabled=true",
    "--set=metrics.dashboards.enabled=true",
]


def run(helm: str, *args: str) -> str:
    done = subprocess.run([helm, *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"helm {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def renders() -> dict[str, list[str]]:
    """Name → helm arguments of each rendering to check."""
    cases = {"default": [], "everything-on": EVERYTHING_ON}
    cases |= {path.stem: [f"--values={path}"] for path in EXAMPLES}
    cases["hpa-alternative"] = [
        "--set=dispatcher.autoscaling.mode=hpa",
        "--set=ledger.autoscaling.mode=hpa",
    ]
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--helm", required=True)
    parser.add_argument("--crd-validate", required=True, help="path of crd_validate.mjs")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    checked, failures = 0, []
    custom: list[dict[str, object]] = []
    for name, extra in renders().items():
        run(args.helm, "lint", "--strict", str(CHART), *extra)
        manifest = run(args.helm, "template", "notif", str(CHART), "--namespace=notif", *extra)
        (OUT / f"{name}.yaml").write_text(manifest)
        for doc in (d for d in yaml.safe_load_all(manifest) if d):
            if doc["apiVersion"] in CUSTOM_RESOURCES:
                custom.append(doc)
                continue
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                failures.append(f"{name}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")
            checked += 1
        print(f"rendered and linted: {name}")
    print(f"validated {checked} objects against Kubernetes {KUBERNETES_VERSION} (strict)")
    for failure in failures:
        print(f"INVALID {failure}")
    crds = subprocess.run(
        ["node", args.crd_validate], input=json.dumps(custom), capture_output=True, text=True
    )
    lines = crds.stdout.splitlines()
    print(f"validated {len(lines)} custom resources against their CRD schemas")
    for line in lines:
        if not line.startswith("valid "):
            print(line)
    return 1 if failures or crds.returncode != 0 or len(lines) != len(custom) else 0


if __name__ == "__main__":
    sys.exit(main())
