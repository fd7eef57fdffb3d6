#!/usr/bin/env bash
# Randomised differential test against the real kustomize: generates multi-layer
# kustomizations (1-3 layers over a random subset of workloads, services, RBAC, ingress, CRs;
# namespaces, prefixes, suffixes, labels, annotations, images, replicas, generators with
# merge/replace, strategic-merge and JSON patches) and compares `kubectl kustomize` with
# kustomize-rs byte for byte. Both failing counts as agreement.
#
#   KUBECTL=/path/to/kubectl tests/differential/run.sh [FIRST_SEED] [LAST_SEED]
#
# GEN chooses the generator: gen.py (default, whole kustomizations), gen_smp.py (strategic
# merge of keyed lists), gen_transformers.py (namespace transformer, generator options).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
KUBECTL=${KUBECTL:-kubectl}
first=${1:-1}
last=${2:-100}
gen=${GEN:-gen.py}
(cd "$here/../.." && cargo build --quiet --example build)
target=${CARGO_TARGET_DIR:-$(cd "$here/../../.." && pwd)/target}
ours="$target/debug/examples/build"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
same=0 both=0 differ=0
for s in $(seq "$first" "$last"); do
  python3 "$here/$gen" "$s" "$work/c$s"
  set +e
  "$KUBECTL" kustomize "$work/c$s" >"$work/exp" 2>/dev/null; e1=$?
  "$ours" "$work/c$s" >"$work/ours" 2>"$work/err"; e2=$?
  set -e
  if [ $e1 -ne 0 ] || [ $e2 -ne 0 ]; then
    if [ $e1 -ne 0 ] && [ $e2 -ne 0 ]; then both=$((both + 1)); else
      differ=$((differ + 1)); echo "seed $s: kubectl exit $e1, kustomize-rs exit $e2: $(cat "$work/err")"; fi
  elif cmp -s "$work/exp" "$work/ours"; then same=$((same + 1)); else
    differ=$((differ + 1)); echo "seed $s differs:"; diff "$work/exp" "$work/ours" | head -10
  fi
done
echo "differential: $((same + both)) passed, $differ failed ($both both refused)"
[ "$differ" -eq 0 ]
