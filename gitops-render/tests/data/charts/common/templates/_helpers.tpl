{{- define "common.greeting" -}}
hello from {{ .Chart.Name }} {{ .Chart.Version }}
{{- end -}}
