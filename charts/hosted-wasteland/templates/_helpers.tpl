{{/*
Names, labels and the pieces every service's objects share. The four services are
"components": gateway, registry, board-sync, executor; their values live under
.Values.gateway, .Values.registry, .Values.boardSync and .Values.executor.
*/}}

{{- define "hw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hw.fullname" -}}
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

{{/* The components, in a fixed order: name => values key. */}}
{{- define "hw.components" -}}
gateway: gateway
registry: registry
board-sync: boardSync
executor: executor
{{- end }}

{{/* <fullname>-<component>, at most 63 characters. Call with (dict "root" $ "component" "registry"). */}}
{{- define "hw.componentName" -}}
{{- printf "%s-%s" (include "hw.fullname" .root | trunc (int (sub 62 (len .component)))) .component | trimSuffix "-" }}
{{- end }}

{{- define "hw.chartLabel" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object the chart makes. */}}
{{- define "hw.labels" -}}
helm.sh/chart: {{ include "hw.chartLabel" . }}
app.kubernetes.io/name: {{ include "hw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hosted-wasteland
{{- end }}

{{/* The pod selector of one component (immutable once a Deployment exists). */}}
{{- define "hw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hw.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "hw.componentLabels" -}}
{{ include "hw.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The namespace of the per-wasteland workloads. */}}
{{- define "hw.workloadNamespace" -}}
{{- .Values.workloads.namespace | default (printf "%s-workloads" .Release.Name | trunc 63 | trimSuffix "-") }}
{{- end }}

{{- define "hw.workloadServiceAccount" -}}
{{- .Values.workloads.serviceAccountName | default (printf "%s-workload" (include "hw.fullname" .)) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hw.workloadSecretName" -}}
{{- .Values.workloads.existingSecret | default (printf "%s-workload" (include "hw.fullname" .)) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Secret the services read their secrets from (created by the chart or existing). */}}
{{- define "hw.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "hw.fullname" .) }}
{{- end }}

{{/* A component's image reference: (dict "root" $ "component" "registry" "image" .Values.registry.image). */}}
{{- define "hw.image" -}}
{{- $global := .root.Values.image }}
{{- $repository := .image.repository | default (printf "%s/%s" $global.repository .component) }}
{{- if .image.digest }}
{{- printf "%s@%s" $repository .image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (.image.tag | default $global.tag | default .root.Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* host:port of a component's gRPC Service. */}}
{{- define "hw.grpcAddress" -}}
{{- $values := index .root.Values (index (include "hw.components" .root | fromYaml) .component) }}
{{- printf "%s.%s.svc:%d" (include "hw.componentName" .) .root.Release.Namespace (int $values.port) }}
{{- end }}

{{/* Restricted Pod Security: the pod level. */}}
{{- define "hw.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Restricted Pod Security: every container. */}}
{{- define "hw.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The two writable paths of the images (README "Container images"). */}}
{{- define "hw.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
- name: data
  emptyDir:
    sizeLimit: 256Mi
{{- end }}

{{- define "hw.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /var/lib/wasteland
{{- end }}

{{/* One environment variable from the services' Secret. */}}
{{- define "hw.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "hw.secretName" .root }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{/* Trace export, the same for every service (the executor hands it to the workloads). */}}
{{- define "hw.otelEnv" -}}
{{- $traces := .Values.telemetry.traces }}
- name: OTEL_TRACES_EXPORTER
  value: {{ $traces.exporter | quote }}
{{- if eq $traces.exporter "otlp" }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $traces.otlp.protocol | quote }}
{{- if $traces.otlp.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $traces.otlp.endpoint | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A component's plain settings: the shared .Values.settings, then the component's own
.settings (which win), as environment variables. Keys are the variable names of
docs/settings.md; values.schema.json types each one.
*/}}
{{- define "hw.settingsEnv" -}}
{{- $merged := merge (deepCopy (.values.settings | default dict)) (deepCopy (.root.Values.settings | default dict)) }}
{{- range $name := keys $merged | sortAlpha }}
{{- $value := index $merged $name }}
- name: {{ $name }}
  {{- if kindIs "slice" $value }}
  value: {{ join "," $value | quote }}
  {{- else if and (kindIs "float64" $value) (eq $value (float64 (int64 $value))) }}
  {{- /* YAML numbers arrive as floats: 1048576 must not become "1.048576e+06" */}}
  value: {{ int64 $value | toString | quote }}
  {{- else }}
  value: {{ $value | toString | quote }}
  {{- end }}
{{- end }}
{{- range $name, $value := .values.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/*
A pod template's annotations, as YAML (empty when there are none): the checksum that rolls
the pods when the chart-made Secret changes, Prometheus scrape annotations when `port` is
given and metrics.podAnnotations is on, then `extra` (the component's podAnnotations).
Call with (dict "root" $ "port" 9090 "extra" $values.podAnnotations).
*/}}
{{- define "hw.podAnnotations" -}}
{{- $root := .root }}
{{- $annotations := dict }}
{{- if not $root.Values.secrets.existingSecret }}
{{- $_ := set $annotations "checksum/secret" (include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum) }}
{{- end }}
{{- if and .port $root.Values.metrics.podAnnotations }}
{{- $_ := set $annotations "prometheus.io/scrape" "true" }}
{{- $_ := set $annotations "prometheus.io/port" (toString .port) }}
{{- $_ := set $annotations "prometheus.io/path" "/metrics" }}
{{- end }}
{{- range $key, $value := .extra | default dict }}
{{- $_ := set $annotations $key $value }}
{{- end }}
{{- if $annotations }}
{{- toYaml $annotations }}
{{- end }}
{{- end }}

{{/* Topology spread of a component's pods over nodes (and zones). */}}
{{- define "hw.topologySpread" -}}
{{- range .root.Values.topologySpread.topologyKeys }}
- maxSkew: {{ $.root.Values.topologySpread.maxSkew }}
  topologyKey: {{ . }}
  whenUnsatisfiable: {{ $.root.Values.topologySpread.whenUnsatisfiable }}
  labelSelector:
    matchLabels:
      {{- include "hw.selectorLabels" $ | nindent 6 }}
  matchLabelKeys: ["pod-template-hash"]
{{- end }}
{{- end }}

{{/* Secrets that must be given when the chart makes the Secret. */}}
{{- define "hw.requiredSecrets" -}}
{{- if not .Values.secrets.existingSecret }}
{{- $s := .Values.secrets }}
{{- $_ := required "secrets.kiloJwtSecret is required (or name secrets.existingSecret)" $s.kiloJwtSecret }}
{{- $_ := required "secrets.serviceJwtSecret is required (or name secrets.existingSecret)" $s.serviceJwtSecret }}
{{- $_ := required "secrets.credentialKeys is required (or name secrets.existingSecret)" $s.credentialKeys }}
{{- $_ := required "secrets.databaseUrls.gateway is required (or name secrets.existingSecret)" $s.databaseUrls.gateway }}
{{- $_ := required "secrets.databaseUrls.registry is required (or name secrets.existingSecret)" $s.databaseUrls.registry }}
{{- $_ := required "secrets.databaseUrls.boardSync is required (or name secrets.existingSecret)" $s.databaseUrls.boardSync }}
{{- $_ := required "secrets.databaseUrls.executor is required (or name secrets.existingSecret)" $s.databaseUrls.executor }}
{{- else if and (not .Values.workloads.existingSecret) (not .Values.secrets.serviceJwtSecret) }}
{{- fail "with secrets.existingSecret, name workloads.existingSecret too (a Secret in the workload namespace with key SERVICE_JWT_SECRET), or give secrets.serviceJwtSecret so the chart makes it" }}
{{- end }}
{{- end }}

{{/* The executor's runtime: Kubernetes, with the workload template from .Values.workloads. */}}
{{- define "hw.executorWorkloadEnv" -}}
{{- $w := .Values.workloads }}
- name: RUNTIME
  value: kubernetes
- name: WORKLOAD_NAMESPACE
  value: {{ include "hw.workloadNamespace" . | quote }}
- name: WORKLOAD_IMAGE
  value: {{ include "hw.image" (dict "root" . "component" "control-server" "image" $w.image) | quote }}
- name: WORKLOAD_IMAGE_PULL_POLICY
  value: {{ $w.pullPolicy | quote }}
- name: WORKLOAD_PORT
  value: {{ $w.port | quote }}
- name: WORKLOAD_SERVICE_ACCOUNT
  value: {{ include "hw.workloadServiceAccount" . | quote }}
- name: WORKLOAD_SECRET_NAME
  value: {{ include "hw.workloadSecretName" . | quote }}
- name: WORKLOAD_CPU_REQUEST
  value: {{ $w.resources.requests.cpu | quote }}
- name: WORKLOAD_MEMORY_REQUEST
  value: {{ $w.resources.requests.memory | quote }}
- name: WORKLOAD_CPU_LIMIT
  value: {{ $w.resources.limits.cpu | quote }}
- name: WORKLOAD_MEMORY_LIMIT
  value: {{ $w.resources.limits.memory | quote }}
- name: WORKLOAD_EPHEMERAL_STORAGE_LIMIT
  value: {{ $w.resources.limits.ephemeralStorage | quote }}
- name: WL_BINARY
  value: {{ $w.wlBinary | quote }}
- name: CLUSTER_DOMAIN
  value: {{ .Values.clusterDomain | quote }}
{{- end }}

{{/* The labels that select the executor's workload pods (wl_executor.manifests.selector). */}}
{{- define "hw.workloadSelectorLabels" -}}
app.kubernetes.io/name: wasteland-control-server
app.kubernetes.io/part-of: hosted-wasteland
{{- end }}

{{/*
One NetworkPolicy rule: (dict "direction" "from"|"to" "peers" [NetworkPolicyPeer] "ports" [int] "protocols" [string]).
No peers: any address, on these ports only.
*/}}
{{- define "hw.rule" -}}
- {{- if .peers }}
  {{ .direction }}:
    {{- toYaml .peers | nindent 4 }}
  {{- end }}
  ports:
    {{- range $port := .ports }}
    {{- range $protocol := $.protocols }}
    - port: {{ $port }}
      protocol: {{ $protocol }}
    {{- end }}
    {{- end }}
{{- end }}
