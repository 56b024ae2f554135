{{/* Names, following `helm create`. */}}
{{- define "custom-api-sidecar.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "custom-api-sidecar.fullname" -}}
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

{{- define "custom-api-sidecar.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "custom-api-sidecar.labels" -}}
helm.sh/chart: {{ include "custom-api-sidecar.chart" . }}
{{ include "custom-api-sidecar.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "custom-api-sidecar.selectorLabels" -}}
app.kubernetes.io/name: {{ include "custom-api-sidecar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "custom-api-sidecar.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "custom-api-sidecar.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "custom-api-sidecar.configMapName" -}}
{{- default (printf "%s-apis" (include "custom-api-sidecar.fullname" .)) .Values.apis.existingConfigMap }}
{{- end }}

{{/* An image reference: repository@digest, else repository:tag (tag defaulting to appVersion). */}}
{{- define "custom-api-sidecar.image" -}}
{{- $image := .image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .appVersion $image.tag) }}
{{- end }}
{{- end }}

{{/* The path of the config file inside the sidecar. */}}
{{- define "custom-api-sidecar.configPath" -}}
/etc/custom-api-sidecar/config/{{ .Values.apis.key }}
{{- end }}

{{/* Where the sidecar keeps background jobs: a volume of its own, never mounted into the agent. */}}
{{- define "custom-api-sidecar.jobsDir" -}}
/var/lib/custom-api-sidecar/jobs
{{- end }}

{{/* What the agent container needs: the socket volume and CUSTOM_API_SIDECAR pointing at it.
Nothing else: the jobs volume stays the sidecar's. */}}
{{- define "custom-api-sidecar.agentEnv" -}}
- name: CUSTOM_API_SIDECAR
  value: unix://{{ .Values.sidecar.socketDir }}/sidecar.sock
{{- end }}

{{- define "custom-api-sidecar.agentVolumeMounts" -}}
- name: custom-api-sidecar-socket
  mountPath: {{ .Values.sidecar.socketDir }}
{{- end }}

{{/*
The sidecar container. Documented for use in your own Deployment (README, "Deploy on
Kubernetes"): add it under initContainers (native sidecar, it sets restartPolicy: Always) or
containers (set sidecar.native=false), and add "custom-api-sidecar.volumes" to the pod's
volumes and "custom-api-sidecar.agentEnv" / "custom-api-sidecar.agentVolumeMounts" to your
agent container (the socket only: the jobs volume in "custom-api-sidecar.volumes" is mounted
into this container alone).
*/}}
{{- define "custom-api-sidecar.sidecarContainer" -}}
- name: custom-api-sidecar
  image: {{ include "custom-api-sidecar.image" (dict "image" .Values.sidecar.image "appVersion" .Chart.AppVersion) | quote }}
  imagePullPolicy: {{ .Values.sidecar.image.pullPolicy }}
  {{- if .Values.sidecar.native }}
  restartPolicy: Always
  {{- end }}
  args:
    - --grace
    - {{ .Values.sidecar.gracePeriodSeconds | quote }}
    {{- if .Values.sidecar.adminPort }}
    - --admin-listen
    - 127.0.0.1:{{ .Values.sidecar.adminPort }}
    {{- with .Values.sidecar.adminToken }}
    - --admin-token
    - {{ . | quote }}
    {{- end }}
    {{- end }}
    {{- if .Values.vault.enabled }}
    - --vault-auth-method
    - kubernetes
    - --vault-role
    - {{ required "vault.auth.role is required when vault.enabled" .Values.vault.auth.role | quote }}
    - --vault-auth-mount
    - {{ .Values.vault.auth.mount | quote }}
    - --vault-jwt
    - file:///var/run/secrets/vault/token
    {{- end }}
  env:
    - name: CUSTOM_API_SIDECAR_CONFIG
      value: {{ include "custom-api-sidecar.configPath" . }}
    - name: CUSTOM_API_SIDECAR_LISTEN
      value: unix://{{ .Values.sidecar.socketDir }}/sidecar.sock
    - name: CUSTOM_API_SIDECAR_HEALTH_LISTEN
      value: "0.0.0.0:{{ .Values.sidecar.healthPort }}"
    - name: CUSTOM_API_SIDECAR_ENVIRONMENT
      value: {{ .Values.sidecar.environment | quote }}
    - name: CUSTOM_API_SIDECAR_LOG_LEVEL
      value: {{ .Values.sidecar.logLevel | quote }}
    - name: CUSTOM_API_SIDECAR_LOG_FORMAT
      value: {{ .Values.sidecar.logFormat | quote }}
    - name: CUSTOM_API_SIDECAR_JOBS_DB
      value: {{ include "custom-api-sidecar.jobsDir" . }}/jobs.sqlite3
    - name: CUSTOM_API_SIDECAR_JOBS_MAX_SIZE
      value: {{ .Values.sidecar.jobs.sizeLimit | quote }}
    - name: CUSTOM_API_SIDECAR_MAX_IN_FLIGHT
      value: {{ .Values.sidecar.maxInFlight | quote }}
    - name: CUSTOM_API_SIDECAR_CACHE_MAX_BYTES
      value: {{ .Values.sidecar.cacheMaxBytes | quote }}
    - name: CUSTOM_API_SIDECAR_AGENT_TEST_CONNECTION
      value: {{ ternary "on" "off" .Values.sidecar.agentTestConnection | quote }}
    {{- include "custom-api-sidecar.policyEnv" . | nindent 4 }}
    {{- with .Values.sidecar.mcp }}
    {{- if .port }}
    - name: CUSTOM_API_SIDECAR_MCP_LISTEN
      value: "127.0.0.1:{{ .port }}"
    {{- with .apis }}
    - name: CUSTOM_API_SIDECAR_MCP_APIS
      value: {{ join "," . | quote }}
    {{- end }}
    {{- with .include }}
    - name: CUSTOM_API_SIDECAR_MCP_INCLUDE
      value: {{ join "," . | quote }}
    {{- end }}
    {{- with .exclude }}
    - name: CUSTOM_API_SIDECAR_MCP_EXCLUDE
      value: {{ join "," . | quote }}
    {{- end }}
    {{- end }}
    {{- end }}
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: POD_NAMESPACE
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
    {{- if .Values.tracing.otlpEndpoint }}
    - name: OTEL_EXPORTER_OTLP_ENDPOINT
      value: {{ .Values.tracing.otlpEndpoint | quote }}
    - name: OTEL_EXPORTER_OTLP_INSECURE
      value: {{ .Values.tracing.insecure | quote }}
    {{- end }}
    - name: OTEL_SERVICE_NAME
      value: {{ .Values.tracing.serviceName | quote }}
    - name: OTEL_RESOURCE_ATTRIBUTES
      value: "k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE){{ with .Values.tracing.resourceAttributes }},{{ . }}{{ end }}"
    {{- if .Values.vault.enabled }}
    - name: VAULT_ADDR
      value: {{ required "vault.address is required when vault.enabled" .Values.vault.address | quote }}
    {{- with .Values.vault.namespace }}
    - name: VAULT_NAMESPACE
      value: {{ . | quote }}
    {{- end }}
    {{- if .Values.vault.caSecret.name }}
    - name: VAULT_CACERT
      value: /etc/custom-api-sidecar/vault-ca/{{ .Values.vault.caSecret.key }}
    {{- end }}
    {{- end }}
    {{- with .Values.sidecar.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.sidecar.envFromSecrets }}
  envFrom:
    {{- range . }}
    - secretRef: {name: {{ .name | quote }}}
    {{- end }}
  {{- end }}
  ports:
    - name: health
      containerPort: {{ .Values.sidecar.healthPort }}
      protocol: TCP
  startupProbe:
    grpc: {port: {{ .Values.sidecar.healthPort }}}
    {{- toYaml .Values.sidecar.startupProbe | nindent 4 }}
  livenessProbe:
    grpc: {port: {{ .Values.sidecar.healthPort }}}
    {{- toYaml .Values.sidecar.livenessProbe | nindent 4 }}
  readinessProbe:
    grpc: {port: {{ .Values.sidecar.healthPort }}}
    {{- toYaml .Values.sidecar.readinessProbe | nindent 4 }}
  resources:
    {{- toYaml .Values.sidecar.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: custom-api-sidecar-socket
      mountPath: {{ .Values.sidecar.socketDir }}
    - name: custom-api-sidecar-tmp
      mountPath: /tmp
    - name: custom-api-sidecar-jobs
      mountPath: {{ include "custom-api-sidecar.jobsDir" . }}
    - name: custom-api-sidecar-config
      mountPath: /etc/custom-api-sidecar/config
      readOnly: true
    {{- if .Values.apis.openapiSpecs.existingConfigMap }}
    - name: custom-api-sidecar-specs
      mountPath: {{ .Values.apis.openapiSpecs.mountPath }}
      readOnly: true
    {{- end }}
    {{- if .Values.vault.enabled }}
    - name: custom-api-sidecar-vault-token
      mountPath: /var/run/secrets/vault
      readOnly: true
    {{- if .Values.vault.caSecret.name }}
    - name: custom-api-sidecar-vault-ca
      mountPath: /etc/custom-api-sidecar/vault-ca
      readOnly: true
    {{- end }}
    {{- end }}
    {{- range $index, $secret := .Values.sidecar.secretFiles }}
    - name: custom-api-sidecar-secret-{{ $index }}
      mountPath: {{ $secret.mountPath }}
      readOnly: true
    {{- end }}
    {{- if and .Values.redis.enabled (include "custom-api-sidecar.redisSecretSources" .) }}
    - name: custom-api-sidecar-redis
      mountPath: {{ include "custom-api-sidecar.redisDir" . }}
      readOnly: true
    {{- end }}
{{- end }}

{{/* The operator's policy over the API definitions, as the sidecar's CUSTOM_API_SIDECAR_POLICY_*
variables. Secret files are readable where they are mounted; specs where their ConfigMap is. */}}
{{- define "custom-api-sidecar.policyEnv" -}}
{{- $policy := .Values.sidecar.policy -}}
{{- $fileDirs := concat $policy.fileDirs (list) -}}
{{- range .Values.sidecar.secretFiles }}{{ $fileDirs = append $fileDirs .mountPath }}{{ end -}}
- name: CUSTOM_API_SIDECAR_POLICY_EGRESS
  value: {{ join "," $policy.egress | quote }}
- name: CUSTOM_API_SIDECAR_POLICY_SECRET_SCHEMES
  value: {{ join "," $policy.secretSchemes | quote }}
{{- with $policy.vaultPrefixes }}
- name: CUSTOM_API_SIDECAR_POLICY_VAULT_PREFIXES
  value: {{ join "," . | quote }}
{{- end }}
{{- with $policy.envNames }}
- name: CUSTOM_API_SIDECAR_POLICY_ENV_NAMES
  value: {{ join "," . | quote }}
{{- end }}
{{- with $fileDirs }}
- name: CUSTOM_API_SIDECAR_POLICY_FILE_DIRS
  value: {{ join "," . | quote }}
{{- end }}
{{- if .Values.apis.openapiSpecs.existingConfigMap }}
- name: CUSTOM_API_SIDECAR_POLICY_SPEC_DIRS
  value: {{ .Values.apis.openapiSpecs.mountPath | quote }}
{{- end }}
{{- with $policy.proxies }}
- name: CUSTOM_API_SIDECAR_POLICY_PROXIES
  value: {{ join "," . | quote }}
{{- end }}
{{- if $policy.refuseExtraArguments }}
- name: CUSTOM_API_SIDECAR_POLICY_EXTRA_ARGUMENTS
  value: refuse
{{- end }}
{{- end }}

{{/* The pod volumes the sidecar needs. */}}
{{- define "custom-api-sidecar.volumes" -}}
- name: custom-api-sidecar-socket
  emptyDir: {medium: Memory, sizeLimit: 1Mi}
- name: custom-api-sidecar-tmp
  emptyDir: {sizeLimit: 64Mi}
- name: custom-api-sidecar-jobs
  emptyDir: {sizeLimit: {{ .Values.sidecar.jobs.sizeLimit }}}
- name: custom-api-sidecar-config
  configMap:
    name: {{ include "custom-api-sidecar.configMapName" . }}
{{- if .Values.apis.openapiSpecs.existingConfigMap }}
- name: custom-api-sidecar-specs
  configMap:
    name: {{ .Values.apis.openapiSpecs.existingConfigMap }}
{{- end }}
{{- if .Values.vault.enabled }}
- name: custom-api-sidecar-vault-token
  projected:
    sources:
      - serviceAccountToken:
          path: token
          audience: {{ .Values.vault.tokenAudience | quote }}
          expirationSeconds: {{ .Values.vault.tokenExpirationSeconds }}
{{- if .Values.vault.caSecret.name }}
- name: custom-api-sidecar-vault-ca
  secret:
    secretName: {{ .Values.vault.caSecret.name }}
{{- end }}
{{- end }}
{{- range $index, $secret := .Values.sidecar.secretFiles }}
- name: custom-api-sidecar-secret-{{ $index }}
  secret:
    secretName: {{ $secret.name }}
{{- end }}
{{- if .Values.redis.enabled }}
{{- with include "custom-api-sidecar.redisSecretSources" . }}
- name: custom-api-sidecar-redis
  projected:
    defaultMode: 0440
    sources:
      {{- . | nindent 6 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Fleet mode: where the Redis secrets are mounted (one projected volume, read-only). */}}
{{- define "custom-api-sidecar.redisDir" -}}
/etc/custom-api-sidecar/redis
{{- end }}

{{/* The projected volume's sources: each Redis secret given, under a fixed file name. */}}
{{- define "custom-api-sidecar.redisSecretSources" -}}
{{- $r := .Values.redis -}}
{{- range $path, $ref := dict "password" $r.passwordSecret "sentinel-password" $r.sentinel.passwordSecret "token-key" $r.tokenKeySecret "job-key" $r.jobKeySecret "cache-key" $r.cacheKeySecret }}
{{- if $ref.name }}
- secret:
    name: {{ $ref.name | quote }}
    items: [{key: {{ $ref.key | quote }}, path: {{ $path }}}]
{{- end }}
{{- end }}
{{- with $r.tls.secret }}
{{- if .name }}
- secret:
    name: {{ .name | quote }}
    items:
      {{- with .caKey }}
      - {key: {{ . | quote }}, path: tls/ca.crt}
      {{- end }}
      {{- with .certKey }}
      - {key: {{ . | quote }}, path: tls/tls.crt}
      {{- end }}
      {{- with .keyKey }}
      - {key: {{ . | quote }}, path: tls/tls.key}
      {{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The config's redis: section, from .Values.redis (a YAML document of its own in the config
file). Every secret is a file:// reference into redisDir, never a value. */}}
{{- define "custom-api-sidecar.redisSection" -}}
{{- $r := .Values.redis -}}
{{- $dir := include "custom-api-sidecar.redisDir" . -}}
{{- $s := dict "key_prefix" $r.keyPrefix "timeout_ms" (int $r.timeoutMs) "on_unavailable" $r.onUnavailable "share_tokens" $r.shareTokens "rate_limits" $r.rateLimits "jobs" $r.jobs "job_shards" (int $r.jobShards) "job_claim_after_s" $r.jobClaimAfterS -}}
{{- if eq $r.topology "single" }}
{{- $_ := set $s "url" (required "redis.url is required when redis.topology is single" $r.url) }}
{{- else }}
{{- if not $r.nodes }}{{ fail (printf "redis.nodes is required when redis.topology is %s" $r.topology) }}{{ end }}
{{- if eq $r.topology "cluster" }}
{{- $_ := set $s "cluster" (dict "nodes" $r.nodes) }}
{{- else }}
{{- $sentinel := dict "nodes" $r.nodes "service" $r.sentinel.service }}
{{- with $r.sentinel.username }}{{ $_ := set $sentinel "username" . }}{{ end }}
{{- if $r.sentinel.passwordSecret.name }}{{ $_ := set $sentinel "password" (printf "file://%s/sentinel-password" $dir) }}{{ end }}
{{- $_ := set $s "sentinel" $sentinel }}
{{- end }}
{{- end }}
{{- with $r.username }}{{ $_ := set $s "username" . }}{{ end }}
{{- if $r.passwordSecret.name }}{{ $_ := set $s "password" (printf "file://%s/password" $dir) }}{{ end }}
{{- if $r.tokenKeySecret.name }}{{ $_ := set $s "token_key" (printf "file://%s/token-key" $dir) }}{{ end }}
{{- if $r.jobKeySecret.name }}{{ $_ := set $s "job_key" (printf "file://%s/job-key" $dir) }}{{ end }}
{{- if $r.cache }}{{ $_ := set $s "cache" true }}{{ end }}
{{- if $r.cacheKeySecret.name }}{{ $_ := set $s "cache_key" (printf "file://%s/cache-key" $dir) }}{{ end }}
{{- if or $r.tls.enabled $r.tls.secret.name }}
{{- $tls := dict }}
{{- if $r.tls.secret.name }}
{{- with $r.tls.secret.caKey }}{{ $_ := set $tls "ca_cert" (printf "file://%s/tls/ca.crt" $dir) }}{{ end }}
{{- with $r.tls.secret.certKey }}{{ $_ := set $tls "client_cert" (printf "file://%s/tls/tls.crt" $dir) }}{{ end }}
{{- with $r.tls.secret.keyKey }}{{ $_ := set $tls "client_key" (printf "file://%s/tls/tls.key" $dir) }}{{ end }}
{{- end }}
{{- $_ := set $s "tls" $tls }}
{{- end }}
{{- if ne (toString $r.jobsMinReplicas) "" }}{{ $_ := set $s "jobs_min_replicas" (int $r.jobsMinReplicas) }}{{ end }}
{{- toYaml (dict "redis" $s) }}
{{- end }}
