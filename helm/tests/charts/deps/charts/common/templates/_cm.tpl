{{- define "common.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .name }}
  labels:
    chart: {{ .ctx.Chart.Name }}
data:
  values: {{ toJson .data | quote }}
{{- end }}
