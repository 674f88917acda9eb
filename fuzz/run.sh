#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, in build-fuzz/) and runs each for a bounded time
# on a copy of its seed corpus, then prints one summary line per target. Exit 1 when any target
# crashed (the reproducer's path is printed), 0 otherwise.
#   fuzz/run.sh [SECONDS]          SECONDS per target, default 60
#   FUZZ_TARGETS="config compare" fuzz/run.sh 10     a subset
#   FUZZ_BUILD_DIR=... FUZZ_WORK=...                 where to build, where runs keep their corpora
# Replay a saved input: build-fuzz/fuzz/request_head_fuzz FILE
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
if ! [[ "$secs" =~ ^[1-9][0-9]*$ ]]; then echo "usage: fuzz/run.sh [SECONDS]" >&2; exit 2; fi
build=${FUZZ_BUILD_DIR:-build-fuzz}
work=${FUZZ_WORK:-$build/fuzz-runs}
read -r -a targets <<<"${FUZZ_TARGETS:-request_head response_head config compare h2_frames}"

./scripts/setup.sh --fuzz
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -DCUTOVER_FUZZ=ON -DBUILD_TESTING=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target fuzzers

# Per target: dictionary and longest input. The head targets go past the 64 KiB head limit.
dict_of() {
  case $1 in
    request_head | response_head) echo fuzz/http.dict ;;
    config) echo fuzz/config.dict ;;
    compare) echo fuzz/json.dict ;;
    h2_frames) echo fuzz/h2.dict ;;
  esac
}
max_len_of() { case $1 in request_head|response_head) echo 140000 ;; *) echo 16384 ;; esac; }

failed=0
summary=()
for t in "${targets[@]}"; do
  bin="$build/fuzz/${t}_fuzz"
  [ -x "$bin" ] || { echo "fuzz: no target $t" >&2; exit 2; }
  run="$work/$t"
  rm -rf "$run"
  mkdir -p "$run/corpus" "$run/artifacts"
  cp fuzz/corpus/"$t"/* "$run/corpus/"
  seeds=$(find "$run/corpus" -type f | wc -l)
  echo "fuzz: $t for ${secs}s ($seeds seeds, log $run/log)"
  rc=0
  # -max_total_time bounds the run; timeout(1) bounds a run that hangs outside libFuzzer's clock.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    timeout --kill-after=10 $((secs + 120)) "$bin" "$run/corpus" -dict="$(dict_of "$t")" \
    -max_total_time="$secs" -max_len="$(max_len_of "$t")" -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="$run/artifacts/" -print_final_stats=1 >"$run/log" 2>&1 || rc=$?
  runs=$(grep -oE 'Done [0-9]+ runs' "$run/log" | tail -1 | grep -oE '[0-9]+' || true)
  [ -n "$runs" ] || runs=$(grep -oE '^#[0-9]+' "$run/log" | tail -1 | tr -d '#' || true)
  stat=$(grep -E '^#[0-9]+.*cov: ' "$run/log" | tail -1 || true)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$stat" | grep -oE '[0-9]+' || true)
  ft=$(grep -oE 'ft: [0-9]+' <<<"$stat" | grep -oE '[0-9]+' || true)
  corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$stat" | cut -d' ' -f2 || true)
  eps=$(grep -oE 'exec/s: [0-9]+' <<<"$stat" | grep -oE '[0-9]+' || true)
  crashes=$(find "$run/artifacts" -type f | wc -l)
  if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    failed=1
    summary+=("$(printf '%-14s FAILED  runs=%s exec/s=%s cov=%s ft=%s corpus=%s crashes=%s exit=%s' "$t" \
      "${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes" "$rc")")
    for a in "$run"/artifacts/*; do [ -e "$a" ] && summary+=("    reproducer: $a"); done
    why=$(grep -m1 -E 'invariant broken|ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error' \
      "$run/log" || echo "see $run/log")
    summary+=("    $why")
  else
    summary+=("$(printf '%-14s ok      runs=%s exec/s=%s cov=%s ft=%s corpus=%s crashes=0' "$t" \
      "${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")")
  fi
done

echo
echo "fuzz summary (${secs}s per target):"
printf '  %s\n' "${summary[@]}"
exit "$failed"
