#!/usr/bin/env bash
# Writes gitops-render-cli/symbol-order.txt: the (mangled) functions the `render` example runs, as
# callgrind sees them over a 500-application fleet and every case of the Kustomize suite, and
# as page faults on code show them in real runs of the fleet. examples/build.rs hands the list
# to the linker (lld's --symbol-ordering-file), which lays those functions out together at the
# start of .text, the fleet's first. The kernel maps a binary's code in blocks (16 pages, or a
# whole large folio) around each page it touches; with the code a build runs packed together
# rather than spread over 13 MB of text, `render` keeps about 3 MB less of its binary in
# memory (see README, "Benchmarks"). The binary is static, so the C library's functions are
# in the list too.
#
# The list names functions exactly. Workspace crates are built with one codegen unit in
# release (Cargo.toml), so their functions carry no `.llvm.<hash>` suffix, which changed with
# every edit and left hot functions off the list. A stale list is harmless: names that no
# longer exist are skipped and new functions are laid out where the linker puts them by
# default. Run it again after large changes:
#
#   benches/scripts/symbol-order.sh        (needs valgrind; perf, when it can record page faults)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "symbol-order.sh: valgrind is needed" >&2; exit 2; }
out=gitops-render-cli/symbol-order.txt
cargo build --release --example render
bin=target/release/examples/render
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
RENDER_KEEP="$work/fleet" RENDER_APPS=500 RENDER_RUNS=1 cargo bench -q -p gitops-benches --bench render_vs_kubectl >/dev/null
# `fn=(id) name` and `cfn=(id) name` name a function the first time it appears in a profile;
# a recursive call is `name'2`, which is the same function.
names() {
    cat "$@" | sed -nE 's/^c?fn=\([0-9]+\) (.*)$/\1/p' | sed -E "s/'[0-9]+$//" | grep -vE '^(0x|\(below main\))' | sort -u
}
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/fleet.cg" "$bin" "$work/fleet" >/dev/null 2>&1 || true
i=0
for case in gitops-render/tests/kustomize-suite/cases/*/; do
    build=$(head -n1 "$case/BUILD" 2>/dev/null | tr -d '[:space:]' || true)
    [ -n "$build" ] || continue
    i=$((i + 1))
    valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/suite.$i.cg" "$bin" "$case/$build" >/dev/null 2>&1 || true
done
# What a fleet build runs comes first, so that a fleet touches as little code as it can; what
# only some kustomizations run follows.
names "$work/fleet.cg" >"$work/hot"
names "$work"/suite.*.cg | comm -23 - "$work/hot" >"$work/rest"
cat "$work/hot" "$work/rest" >"$out"
# Valgrind runs one thread at a time and knows no SHA instructions, so what runs only when
# threads contend (futex waits and wakes, parking) and the SHA-NI code of the hash suffixes
# never run under it. A real run names them: each page fault on code outside the ordered part
# is a function the list lacks (with perf; without it, the list stays as callgrind wrote it).
if perf record -q -c 1 -e page-faults -d -o "$work/probe.data" true >/dev/null 2>&1; then
    for _ in 1 2 3 4 5 6 7 8; do
        cargo build -q --release --example render
        nm --defined-only "$bin" | awk '{print $3}' | sort -u >"$work/defined"
        perf record -q -c 1 -e page-faults -d -o "$work/pf.data" -- \
            sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do "$0" "$1" >/dev/null; done' "$bin" "$work/fleet" >/dev/null 2>&1
        # With -d, a sample is: address, its symbol, instruction pointer, its symbol. A fault
        # on code has the address equal to the instruction pointer.
        perf script -i "$work/pf.data" --no-demangle -F addr,ip,sym 2>/dev/null |
            awk 'NF == 4 && $1 == $3 {print $4}' | sort -u | comm -12 - "$work/defined" | comm -23 - "$work/hot" >"$work/missed"
        [ -s "$work/missed" ] || break
        sort -u "$work/hot" "$work/missed" -o "$work/hot"
        comm -23 "$work/rest" "$work/hot" >"$work/rest.new"
        mv "$work/rest.new" "$work/rest"
        cat "$work/hot" "$work/rest" >"$out"
        echo "symbol-order.sh: $(wc -l <"$work/missed") functions a real run faulted on added"
    done
    cargo build -q --release --example render
fi
wc -l "$out"
