module pi-agent.example/helm-record

go 1.24
