{{- define "edge.fails" -}}
{{ .Values.mode.nope.x }}
{{- end -}}
{{- define "edge.outer" -}}
{{ include "edge.fails" . }}
{{- end -}}
