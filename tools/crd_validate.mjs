// Validate custom resources (a JSON array on stdin) against validators compiled from the
// projects' published CRD schemas: @kubernetes-models/keda and
// @kubernetes-models/prometheus-operator (npm). `make helm-check` installs them next to a
// copy of this file in .cache/tools/crd. Prints one line per object; exit 1 on any error.
import { ScaledObject, TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1";
import { ServiceMonitor, PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const models = { ScaledObject, TriggerAuthentication, ServiceMonitor, PrometheusRule };
let input = "";
for await (const chunk of process.stdin) input += chunk;
let failed = 0;
for (const doc of JSON.parse(input)) {
  const Model = models[doc.kind];
  if (!Model) { console.log(`unknown ${doc.kind}`); failed++; continue; }
  try {
    new Model(doc).validate();
    console.log(`valid ${doc.kind}/${doc.metadata.name}`);
  } catch (err) {
    failed++;
    console.log(`INVALID ${doc.kind}/${doc.metadata.name}: ${err.message}`);
  }
}
process.exit(failed ? 1 : 0);
