#!/usr/bin/env bash
# tests/fuzz/run.sh: runs the libFuzzer harnesses for longer than the 30 s ctest does.
#   tests/fuzz/run.sh [SECONDS] [NAME...]     (default: 600 s each, every harness)
# Needs the sanitizer build (tests/run.sh makes it; or cmake -S . -B build-asan
# -DCMAKE_C_COMPILER=clang -DSTATUSD_SANITIZE=ON && cmake --build build-asan -j2).
# Two harnesses run at a time (STATUSD_FUZZ_JOBS). Each starts from its committed seeds
# (tests/fuzz/corpus/NAME/) plus what earlier runs found, and keeps new inputs in
# BUILD/fuzz-corpus/NAME/, never in the source tree. It keeps going after a crash
# (libFuzzer's fork mode); crashing inputs land in BUILD/fuzz-artifacts/. Logs and a
# summary (executions, coverage, CPU seconds, crashes) go to BUILD/fuzz-logs/.
# Exit status: 0 when no harness crashed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${STATUSD_ASAN_BUILD_DIR:-$root/build-asan}"
jobs="${STATUSD_FUZZ_JOBS:-2}"
secs="${1:-600}"
[[ $# -gt 0 ]] && shift
if [[ ! "$secs" =~ ^[0-9]+$ ]]; then
    echo "usage: tests/fuzz/run.sh [SECONDS] [NAME...]" >&2
    exit 2
fi
names=("$@")
if ((${#names[@]} == 0)); then
    for f in "$root"/tests/fuzz/fuzz_*.c; do
        n="${f##*/fuzz_}"
        names+=("${n%.c}")
    done
fi
for n in "${names[@]}"; do
    if [[ ! -x "$build/fuzz_$n" ]]; then
        echo "run.sh: $build/fuzz_$n is missing: build the sanitizer build first" >&2
        exit 1
    fi
done

logs="$build/fuzz-logs"
arts="$build/fuzz-artifacts"
mkdir -p "$logs" "$arts"
# the binaries are copied, so a rebuild during a long run does not swap them under it
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
for n in "${names[@]}"; do cp "$build/fuzz_$n" "$bin/"; done

one() {   # one NAME: runs one harness for $secs seconds; prints its summary line
    local n="$1"
    local log="$logs/$n.log" t0 t1 rc=0
    mkdir -p "$build/fuzz-corpus/$n"
    t0=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
    local start=$SECONDS
    # CPU time of the fuzzer and its children: bash's times after the child is reaped
    ( cd "$bin" && exec "./fuzz_$n" "$build/fuzz-corpus/$n" "$root/tests/fuzz/corpus/$n" \
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$arts/$n-" ) >"$log" 2>&1 || rc=$?
    t1=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
    local crashes cov execs
    crashes=$(find "$arts" -name "$n-*" -type f | wc -l)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    printf '%-12s wall %5ss  cpu %6ss  executions %10s  cov %5s  artifacts %s  exit %s\n' \
        "$n" "$((SECONDS - start))" "$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {printf "%d", (b - a) / hz}')" "${execs:-?}" "${cov:-?}" "$crashes" "$rc"
}
export -f one
export build bin logs arts root secs

echo "fuzzing ${names[*]} for ${secs}s each, $jobs at a time; logs in $logs"
printf '%s\n' "${names[@]}" | xargs -P "$jobs" -I{} bash -c 'one {}' | tee "$logs/summary.txt"
if find "$arts" -type f | grep -q .; then
    echo "run.sh: crashes in $arts (replay one: $build/fuzz_NAME FILE)" >&2
    exit 1
fi
