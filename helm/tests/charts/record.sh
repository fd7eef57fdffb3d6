#!/bin/sh
# Records what the real helm (v4.3.2) prints for every case of cases.txt into expected/.
# Usage: HELM=/path/to/helm helm/tests/charts/record.sh
# (default: the oracle built by bootstrap/components).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
HELM=${HELM:-$("$here/../../../bootstrap/components" oracles-path)/helm}
cd "$here"
rm -rf expected && mkdir expected
grep -v '^#' cases.txt | grep -v '^[[:space:]]*$' | while read -r name release chart args; do
    # shellcheck disable=SC2086
    if "$HELM" template "$release" "$chart" $args >"expected/$name.out" 2>"expected/$name.err"; then
        rm "expected/$name.err"
    else
        rm "expected/$name.out"
    fi
done
"$HELM" version --short > expected/HELM_VERSION
