#!/usr/bin/env bash
# Writes examples/symbol-order.txt: the (mangled) functions the `render` example runs, as
# callgrind sees them over a 500-application fleet and every case of the Kustomize suite.
# examples/build.rs hands the list to the linker (lld's --symbol-ordering-file), which puts
# those functions next to one another at the start of .text. The kernel maps a binary's code
# 16 pages at a time around each page it touches; with the code a build runs packed together
# rather than spread over 13 MB of text, `render` keeps about 2 MB less of its binary in
# memory (see README, "Renderer speed and memory").
#
# A stale list is harmless: names that no longer exist are skipped and new functions are laid
# out where the linker puts them by default. Run it again after large changes:
#
#   benches/scripts/symbol-order.sh        (needs valgrind)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "symbol-order.sh: valgrind is needed" >&2; exit 2; }
cargo build --release --example render
bin=target/release/examples/render
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
RENDER_KEEP="$work/fleet" RENDER_APPS=500 RENDER_RUNS=1 cargo bench -q -p gitops-benches --bench render_vs_kubectl >/dev/null
runs=("$work/fleet")
for case in gitops-render/tests/kustomize-suite/cases/*/; do
    build=$(head -n1 "$case/BUILD" 2>/dev/null | tr -d '[:space:]' || true)
    [ -n "$build" ] && runs+=("$case/$build")
done
i=0
for dir in "${runs[@]}"; do
    i=$((i + 1))
    valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/cg.$i" "$bin" "$dir" >/dev/null 2>&1 || true
done
# `fn=(id) name` and `cfn=(id) name` name a function the first time it appears in a profile;
# a recursive call is `name'2`, which is the same function.
cat "$work"/cg.* | sed -nE 's/^c?fn=\([0-9]+\) (.*)$/\1/p' | sed -E "s/'[0-9]+$//" | grep -vE '^(0x|\(below main\))' | sort -u >"$work/order"
mv "$work/order" examples/symbol-order.txt
wc -l examples/symbol-order.txt
