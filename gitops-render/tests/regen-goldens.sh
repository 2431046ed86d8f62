#!/usr/bin/env bash
# Regenerates the golden outputs of the conformance corpus with `kubectl kustomize`
# (Kustomize v5.5 inside kubectl v1.32). Each case is tests/cases/NAME/in (the tree), an
# optional tests/cases/NAME/path (the kustomization to build, relative to in/), and the
# golden: expected.yaml, or expected-error.txt when kubectl fails.
set -euo pipefail
cd "$(dirname "$0")/cases"
for c in */; do
  c=${c%/}
  p=.
  [ -f "$c/path" ] && p=$(cat "$c/path")
  rm -f "$c/expected.yaml" "$c/expected-error.txt"
  if out=$(kubectl kustomize "$c/in/$p" 2>"$c/.stderr"); then
    printf '%s\n' "$out" | sed '${/^$/d}' > "$c/expected.yaml"
  else
    # Keep kubectl's message without its log prefix and with the machine's paths removed.
    grep -v '^#' "$c/.stderr" | sed -e 's/^E[0-9]* [0-9:.]* *[0-9]* run.go:[0-9]*\] //' \
      -e "s|$PWD/$c/in|<case>|g" > "$c/expected-error.txt" || true
  fi
  rm -f "$c/.stderr"
done
