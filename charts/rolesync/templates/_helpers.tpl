{{/* The chart's name, overridable. */}}
{{- define "rolesync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name of every object: the release name, suffixed with the chart name unless it has it. */}}
{{- define "rolesync.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "rolesync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rolesync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rolesync.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "rolesync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "rolesync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rolesync.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
What rolesync does to the objects it watches: read RoleAssignments (from a watch cache,
so no "get") and patch them (finalizers) and their status, read ProviderConfigs and
report their Ready condition, and create Events about them (never patched: each one stands alone). Granted cluster-wide or, with watchNamespace, there only.
*/}}
{{- define "rolesync.watchedRules" -}}
- apiGroups: ["rolesync.dev"]
  resources: ["roleassignments"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["rolesync.dev"]
  resources: ["roleassignments/status"]
  verbs: ["patch"]
- apiGroups: ["rolesync.dev"]
  resources: ["providerconfigs"]
  verbs: ["list", "watch"]
- apiGroups: ["rolesync.dev"]
  resources: ["providerconfigs/status"]
  verbs: ["patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}
