{{- define "child.shared" }}defined in child{{ end }}
