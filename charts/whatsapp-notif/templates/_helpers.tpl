{{/* Chart name, truncated to the 63 characters Kubernetes allows. */}}
{{- define "notif.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name. */}}
{{- define "notif.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "notif.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "notif.labels" -}}
helm.sh/chart: {{ include "notif.chart" . }}
app.kubernetes.io/name: {{ include "notif.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: pass (list $ "ingest"). */}}
{{- define "notif.selectorLabels" -}}
{{- $root := index . 0 }}
app.kubernetes.io/name: {{ include "notif.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Image of one component: pass (list $ "ingest"). */}}
{{- define "notif.image" -}}
{{- $root := index . 0 }}
{{- $values := index $root.Values (index . 1) }}
{{- printf "%s/%s:%s" $root.Values.image.registry $values.image (default $root.Chart.AppVersion $root.Values.image.tag) }}
{{- end }}

{{- define "notif.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "notif.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The queue names, as the services derive them from QUEUE_PREFIX. */}}
{{- define "notif.queue" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" $root.Values.config.QUEUE_PREFIX (index . 1) }}
{{- end }}

{{/* The ConfigMap's data: values.config plus each service's bind address and port. */}}
{{- define "notif.configData" -}}
{{- range $key, $value := .Values.config }}
{{ $key }}: {{ $value | quote }}
{{- end }}
INGEST_HOST: "0.0.0.0"
INGEST_PORT: {{ .Values.ingest.port | quote }}
RELAY_PORT: {{ .Values.relay.port | quote }}
LEDGER_HOST: "0.0.0.0"
LEDGER_PORT: {{ .Values.ledger.port | quote }}
CALLBACKS_PORT: {{ .Values.callbacks.port | quote }}
DISPATCHER_HOST: "0.0.0.0"
DISPATCHER_PORT: {{ .Values.dispatcher.port | quote }}
{{- end }}

{{/* Non-secret environment of a container: a ConfigMap (the release's, or the migration
hook's own, which exists before the release's objects). Secrets come one key at a time
from "notif.secretEnv", never the whole Secret. */}}
{{- define "notif.envFrom" -}}
{{- $root := index . 0 }}
- configMapRef:
    name: {{ include "notif.fullname" $root }}{{ index . 1 }}
{{- end }}

{{/* The keys of existingSecret each process reads (as the variable of the same name), and
whether it must be there. Each process gets only its own (docs/kubernetes.md); a required key
missing from the Secret stops the pod (CreateContainerConfigError) instead of letting the
process fall back to a local default.
- DATABASE_URL: every process and the migration Job (notif_core.settings.CoreSettings);
- REDIS_URL: ingest's rate limits (ingest.main) and the dispatcher's pacing; the relay, the
  ledger and the callback deliverer never open Redis;
- WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN: ingest's Meta webhook (ingest.api.webhooks),
  and the relay, whose start-up check (IngestSettings.sandbox_secrets, run by
  notif_core.runtime.refuse_to_start) refuses to run against Meta without them;
- API_KEYS: ingest's bootstrap keys (ingest.main), optional;
- WHATSAPP_ACCESS_TOKEN: the dispatcher, which sends with it, and the relay, which syncs the
  template catalogues with it (ingest.templates.sync; without it the catalogues are not
  synced and template sends are accepted unchecked);
- RECIPIENT_PSEUDONYM_KEY: used by the dispatcher (dispatcher.recipients) and the
  ledger (ledger.store, ledger.sealing, ledger.erasure); every process but the Job checks it
  at start (CoreSettings.sandbox_secrets), so every process gets it;
- AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: optional static credentials for the SQS callers
  (relay, dispatcher, ledger) where IRSA is not used;
- SENTRY_DSN, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS: optional, every
  long-running process;
- the migration Job: DATABASE_URL alone. */}}
{{- define "notif.secretKeys" -}}
{{- $observability := dict "SENTRY_DSN" "optional" "OTEL_EXPORTER_OTLP_ENDPOINT" "optional" "OTEL_EXPORTER_OTLP_HEADERS" "optional" }}
{{- $aws := dict "AWS_ACCESS_KEY_ID" "optional" "AWS_SECRET_ACCESS_KEY" "optional" }}
{{- $webhook := dict "WHATSAPP_APP_SECRET" "required" "WHATSAPP_VERIFY_TOKEN" "required" }}
{{- $keys := dict
  "ingest" (merge (dict "DATABASE_URL" "required" "REDIS_URL" "required" "RECIPIENT_PSEUDONYM_KEY" "required" "API_KEYS" "optional") $webhook $observability)
  "relay" (merge (dict "DATABASE_URL" "required" "RECIPIENT_PSEUDONYM_KEY" "required" "WHATSAPP_ACCESS_TOKEN" "optional") $webhook $aws $observability)
  "dispatcher" (merge (dict "DATABASE_URL" "required" "REDIS_URL" "required" "WHATSAPP_ACCESS_TOKEN" "required" "RECIPIENT_PSEUDONYM_KEY" "required") $aws $observability)
  "ledger" (merge (dict "DATABASE_URL" "required" "RECIPIENT_PSEUDONYM_KEY" "required") $aws $observability)
  "callbacks" (merge (dict "DATABASE_URL" "required" "RECIPIENT_PSEUDONYM_KEY" "required") $observability)
  "migrate" (dict "DATABASE_URL" "required")
}}
{{- toYaml $keys }}
{{- end }}

{{/* env entries of one process's secrets, one secretKeyRef each: pass (list $ "ingest"). */}}
{{- define "notif.secretEnv" -}}
{{- $root := index . 0 }}
{{- $secret := required "existingSecret: name the Secret that holds DATABASE_URL and the other secrets" $root.Values.existingSecret }}
{{- $keys := index (include "notif.secretKeys" $root | fromYaml) (index . 1) }}
{{- range $key := keys $keys | sortAlpha }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
      {{- if eq (index $keys $key) "optional" }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}

{{/* Address ranges a public-only rule never reaches: RFC 1918, shared (100.64/10, CGNAT and
some clouds' internal services), link-local (169.254/16: the instance metadata endpoint,
EKS Pod Identity), IPv6 unique-local (fc00::/7: fd00:ec2::254, the metadata endpoint) and
link-local; and the reserved, benchmarking and multicast blocks the application refuses too.
Not a value: it is the wall; what lies inside it is reached through the named
allowances (networkPolicy.egress). */}}
{{- define "notif.privateRanges" -}}
ipv4: [0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 169.254.0.0/16, 172.16.0.0/12, 192.0.0.0/24, 192.168.0.0/16, 198.18.0.0/15, 224.0.0.0/4, 240.0.0.0/4]
ipv6: ["fc00::/7", "fe80::/10"]
{{- end }}

{{/* Peers of one allowance: its cidrs as ipBlocks, then its selector peers. */}}
{{- define "notif.peers" -}}
{{- range .cidrs }}
- ipBlock:
    cidr: {{ . }}
{{- end }}
{{- range .peers }}
- {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Egress rules of one process: pass (list $ component needs), needs among "database",
"redis", "awsEndpoints", "internet", "receivers". An allowance with no peer renders no rule
(an empty `to` would allow every address). */}}
{{- define "notif.egressRules" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 }}
{{- $needs := index . 2 }}
{{- $egress := $root.Values.networkPolicy.egress }}
{{- $private := include "notif.privateRanges" $root | fromYaml }}
- to:
    {{- with $egress.dns.cidrs }}
    {{- range . }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
    {{- end }}
    - namespaceSelector:
        {{- toYaml $egress.dns.namespaceSelector | nindent 8 }}
      podSelector:
        {{- toYaml $egress.dns.podSelector | nindent 8 }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- range $need := list "database" "redis" "awsEndpoints" }}
{{- $allowance := index $egress $need }}
{{- if and (has $need $needs) (or $allowance.cidrs $allowance.peers) }}
- to:
    {{- include "notif.peers" $allowance | nindent 4 }}
  ports:
    - {port: {{ $allowance.port }}, protocol: TCP}
{{- end }}
{{- end }}
{{- $public := list }}
{{- if has "internet" $needs }}{{ $public = append $public $egress.internet.port }}{{ end }}
{{- if has "receivers" $needs }}
{{- range $egress.receivers.ports }}{{ if not (has . $public) }}{{ $public = append $public . }}{{ end }}{{ end }}
{{- end }}
{{- if $public }}
- to:
    - ipBlock:
        cidr: 0.0.0.0/0
        except: {{ toJson $private.ipv4 }}
    - ipBlock:
        cidr: ::/0
        except: {{ toJson $private.ipv6 }}
  ports:
    {{- range $public }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
{{- end }}
{{- range $egress.extra }}
{{- if or (not .workloads) (has $component .workloads) }}
- to:
    {{- toYaml .to | nindent 4 }}
  {{- with .ports }}
  ports:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* What the Ingress routes to ingest (Prefix matches, whole path segments): the API's
resources and Meta's webhook, nothing else (templates/ingress.yaml says why). */}}
{{- define "notif.publicPaths" -}}
- /v1/notifications
- /v1/recipients
- /v1/suppressions
- /v1/callbacks
- /v1/callback-secrets
- /v1/usage
- /v1/templates
- /v1/inbound
- /v1/media
- /webhooks/whatsapp
{{- end }}
