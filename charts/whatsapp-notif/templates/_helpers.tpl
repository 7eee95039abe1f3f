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

{{/* Environment of a container: a ConfigMap (the release's, or the migration hook's own,
which exists before the release's objects) and the existing Secret. */}}
{{- define "notif.envFrom" -}}
{{- $root := index . 0 }}
- configMapRef:
    name: {{ include "notif.fullname" $root }}{{ index . 1 }}
- secretRef:
    name: {{ required "existingSecret: name the Secret that holds DATABASE_URL and the other secrets" $root.Values.existingSecret }}
{{- end }}
