{{/* The chart's name, or nameOverride. */}}
{{- define "scrapepath.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride; else the release name when it already contains
the chart's name; else <release>-<chart>. At most 46 characters, so that "-leader-election" still fits in
a 63-character label value.
*/}}
{{- define "scrapepath.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 46 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "scrapepath.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "scrapepath.labels" -}}
helm.sh/chart: {{ include "scrapepath.chart" . }}
{{ include "scrapepath.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: scrapepath
{{- end }}

{{/* Labels that select the operator's pods (immutable in the Deployment's selector). */}}
{{- define "scrapepath.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scrapepath.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "scrapepath.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "scrapepath.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false: the operator runs as an existing ServiceAccount" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Lease of leader election. */}}
{{- define "scrapepath.leaseName" -}}
{{- default (include "scrapepath.fullname" .) .Values.leaderElection.id }}
{{- end }}

{{- define "scrapepath.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Settings the schema cannot check alone (they span several values).
*/}}
{{- define "scrapepath.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: more than one replica needs leader election (set leaderElection.enabled=true), or two operators would reconcile the same intents" (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.scrapeIntent.enabled .Values.scrapeIntent.scraper.name (not .Values.scrapeIntent.scraper.namespace) }}
{{- fail "scrapeIntent.scraper.name needs scrapeIntent.scraper.namespace" }}
{{- end }}
{{- if and .Values.scrapeIntent.enabled (eq .Values.scrapeIntent.mode "Enforce") (not .Values.settings.allowEnforce) }}
{{- fail "scrapeIntent.mode is Enforce but settings.allowEnforce is false: the operator would treat it as Report" }}
{{- end }}
{{- $configNs := .Values.scrapeConfigs.namespaces }}
{{- if and (has "*" $configNs) (gt (len $configNs) 1) }}
{{- fail (printf "scrapeConfigs.namespaces is %s: \"*\" (every namespace) stands alone; list namespaces, or only \"*\"" (toJson $configNs)) }}
{{- end }}
{{- $statusNs := .Values.scraperStatus.namespaces }}
{{- if and (has "*" $statusNs) (gt (len $statusNs) 1) }}
{{- fail (printf "scraperStatus.namespaces is %s: \"*\" (every namespace) stands alone; list namespaces, or only \"*\"" (toJson $statusNs)) }}
{{- end }}
{{- /* Against a cluster (install, upgrade, --dry-run=server; never `helm template`, where lookup finds
nothing, not even kube-system), each namespace of scrapeConfigs.namespaces must exist: it gets a Role. */}}
{{- if and .Values.rbac.create (not (has "*" $configNs)) (lookup "v1" "Namespace" "" "kube-system") }}
{{- range $ns := $configNs }}
{{- if not (lookup "v1" "Namespace" "" $ns) }}
{{- fail (printf "scrapeConfigs.namespaces names namespace %s, which does not exist: the operator's Role to read scrape configurations there cannot be created. Create it, or set scrapeConfigs.namespaces to the namespaces that hold your Prometheus configurations ([] for none)" $ns) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.rbac.create (not (has "*" $statusNs)) (lookup "v1" "Namespace" "" "kube-system") }}
{{- range $ns := $statusNs }}
{{- if not (lookup "v1" "Namespace" "" $ns) }}
{{- fail (printf "scraperStatus.namespaces names namespace %s, which does not exist: the operator's Role to read StatefulSets and Events there cannot be created. Create it, or set scraperStatus.namespaces to the namespaces of your Prometheus objects ([] for none)" $ns) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Reads of why a scraper is not Ready (scrapepath's `rbac::status_reads`): StatefulSets and Events, listed
and watched (the operator selects the operator's StatefulSets by label and Warning Events by field; RBAC
cannot restrict either).
*/}}
{{- define "scrapepath.statusRules" -}}
- apiGroups: [""]
  resources: ["events"]
  verbs: ["list", "watch"]
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["list", "watch"]
{{- end }}

{{/*
Reads of scrapers' configurations (scrapepath's `rbac::config_reads`): ConfigMaps, and Secrets when
scrapeConfigs.secrets, listed and watched (the operator asks for each object by name with a field
selector; RBAC cannot name objects unknown at install time).
*/}}
{{- define "scrapepath.configRules" -}}
- apiGroups: [""]
  resources: [{{ if .Values.scrapeConfigs.secrets }}"configmaps", "secrets"{{ else }}"configmaps"{{ end }}]
  verbs: ["list", "watch"]
{{- end }}

{{/*
The permissions of reconciling (scrapepath's `rbac::roles`; tests/chart.rs checks that they are equal):
where the operator reconciles, it patches intents' status, publishes Events (created, patched when they
repeat), reads a monitor's uid for its audit Event, and — when Enforce is allowed — applies (create,
patch) and deletes the objects Enforce manages, and sets blockOwnerDeletion on their ownerReference to
the intent (OwnerReferencesPermissionEnforcement wants update on the intent's finalizers for that).
*/}}
{{- define "scrapepath.reconcileRules" -}}
- apiGroups: ["scrapepath.io"]
  resources: ["scrapeintents/status"]
  verbs: ["patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["monitoring.coreos.com"]
  resources: ["podmonitors", "servicemonitors"]
  verbs: ["get"]
{{- if .Values.settings.allowEnforce }}
- apiGroups: ["cilium.io"]
  resources: ["ciliumnetworkpolicies"]
  verbs: ["create", "patch", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["create", "patch", "delete"]
- apiGroups: ["monitoring.coreos.com"]
  resources: ["podmonitors", "servicemonitors"]
  verbs: ["create", "patch", "delete"]
- apiGroups: ["security.istio.io"]
  resources: ["authorizationpolicies"]
  verbs: ["create", "patch", "delete"]
- apiGroups: ["scrapepath.io"]
  resources: ["scrapeintents/finalizers"]
  verbs: ["update"]
{{- end }}
{{- end }}
