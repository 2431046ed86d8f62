#!/usr/bin/env bash
# Fuzzes every target for a bounded time each (default 20 s; FUZZ_SECONDS to change), from
# the committed seeds plus a corpus kept under fuzz/corpus/. cargo-fuzz on the stable
# toolchain: RUSTC_BOOTSTRAP lets it pass libFuzzer's coverage flags, no sanitizer (the
# project forbids unsafe code). A crash leaves its input under fuzz/artifacts/<target>/ and
# fails the run; turn it into a regression test. The mutation seed is fixed (FUZZ_SEED, 1 by
# default) so that a run repeats what an earlier one did, as far as the time allows. Targets
# run FUZZ_JOBS at a time (default: one per core).
#
#   fuzz/run.sh                 # every target, 20 s each
#   FUZZ_SECONDS=600 fuzz/run.sh yaml kustomize_build   # longer, some targets
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-20}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none --release
# libFuzzer uses one core: FUZZ_JOBS targets run at once (the machine's cores by default).
jobs="${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
fuzz_one() {
  local t=$1
  mkdir -p "corpus/$t" "seeds/$t"
  # -rss_limit_mb: no input may take more than 1 GiB; -timeout: none may take more than 10 s
  # (a hang). api_request's slowest known input, a Deployment of 22,222,221 replicas, takes
  # about 0.25 s (it took 16 s before the test API server's rollout stopped re-running on
  # status changes; tests/fuzz_regressions.rs keeps it).
  if cargo fuzz run -s none --release "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -seed="${FUZZ_SEED:-1}" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
      >"$logs/$t.out" 2>&1; then
    local runs peak
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.out" | grep -o '[0-9]*$' || echo "?")
    peak=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$logs/$t.out" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz $t: ${seconds}s, $runs inputs, peak ${peak} MB, no crash"
  else
    echo "fuzz $t: FAILED"
    tail -40 "$logs/$t.out"
    touch "$logs/$t.failed"
  fi
}
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
wait
if compgen -G "$logs/*.failed" >/dev/null; then
  exit 1
fi
