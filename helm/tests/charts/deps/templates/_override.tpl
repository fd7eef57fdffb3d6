{{- define "child.shared" }}overridden by parent{{ end }}
