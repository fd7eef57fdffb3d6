#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the recorded fixtures (tests/fixtures). Run from verify/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p fuzz/corpus/{ssh_signature,allowed_signers,openpgp,git_object}
# The signature header of a commit, without `gpgsig ` and the continuation spaces.
sig() { awk '/^gpgsig/{p=1} p&&/^$/{exit} p' "$1" | sed 's/^gpgsig[^ ]* //; s/^ //'; }
for c in tests/fixtures/ssh/*.commit; do sig "$c" >"fuzz/corpus/ssh_signature/$(basename "$c")"; done
cp tests/fixtures/ssh/allowed_signers* fuzz/corpus/allowed_signers/
for c in tests/fixtures/pgp/*.commit; do
  { cat tests/fixtures/pgp/ed25519.asc; printf '\0'; sig "$c"; } >"fuzz/corpus/openpgp/$(basename "$c")"
done
for f in tests/fixtures/*/*.commit tests/fixtures/*/*.tag; do
  kind=$(basename "$(dirname "$f")")
  cp "$f" "fuzz/corpus/git_object/$kind-$(basename "$f")"
done
