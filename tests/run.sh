#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions called through trap and timed()
# shellcheck source-path=SCRIPTDIR
# tests/run.sh: the one test command (CI runs it through .ci/run).
# Installs missing Debian packages (as root), builds build/ (gcc, RelWithDebInfo) and
# build-asan/ (clang, ASan+UBSan), and runs ctest in both. See --help.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: tests/run.sh [--quick] [--no-install] [--gcc-only] [-j N] [-R REGEX] [--help]

  (no option)   install missing packages (root only), then
                  build/      gcc,   RelWithDebInfo          -> ctest (all tests)
                  build-asan/ clang, -DSTATUSD_SANITIZE=ON    -> ctest (all tests)
  --quick       only build/ (gcc) and only the unit tests (ctest -L unit)
  --gcc-only    all tests, but only in build/ (skip the sanitizer build)
  The 5-minute database outage test (label long) runs once, in the background of the last
  build's tests; the sanitizer build runs the fault matrix scenarios $STATUSD_ASAN_FAULTS
  (default a,e,g; empty: all); $STATUSD_ASAN_SKIP and $STATUSD_ASAN_UNIT_SKIP (ctest -E
  regexes) name the process-level and unit tests left to the gcc build.
  --no-install  never call apt-get (fail if a package is missing)
  -j N          build parallelism (default: number of cores); unit tests run with
                min(N,2) in parallel, process-level tests (integration) one at a time
  -R REGEX      only tests whose name matches (passed to ctest -R)
  --help        this text

Environment: STATUSD_BUILD_DIR / STATUSD_ASAN_BUILD_DIR override the two build dirs.
Exit status: 0 when every step passed, non-zero otherwise.
USAGE
}

quick=0; gcc_only=0; no_install=0; jobs=""; regex=""
while (($#)); do
    case "$1" in
        --quick) quick=1 ;;
        --gcc-only) gcc_only=1 ;;
        --no-install) no_install=1 ;;
        -j) shift; jobs="${1:?-j needs a number}" ;;
        -j*) jobs="${1#-j}" ;;
        -R) shift; regex="${1:?-R needs a regex}" ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
start_s=$(date +%s)
step_times=()
on_exit() {
    local rc=$? t
    echo
    echo "=== run.sh summary ==="
    for t in "${step_times[@]}"; do echo "  $t"; done
    echo "run.sh: elapsed $(( $(date +%s) - start_s ))s, exit $rc"
}
trap on_exit EXIT

ncpu=$(nproc 2>/dev/null || echo 2)
jobs="${jobs:-$ncpu}"
# Unit tests are light; at most 2 at a time so one core stays free for the processes
# they start (PostgreSQL). Process-level tests measure delays: run them serially.
unit_j=$(( jobs < 2 ? jobs : 2 ))

# build-essential etc. Debian 12's clang needs libclang-rt-14-dev for the sanitizer runtimes
# and libfuzzer-14-dev for the fuzz harnesses (tests/fuzz/). chromium: the status page test
# (headless, tests/integration/test_status_page.py).
packages=(build-essential cmake pkg-config gcc clang libclang-rt-14-dev libfuzzer-14-dev
          libczmq-dev libzmq3-dev
          libcurl4-openssl-dev libssl-dev libc-ares-dev libprotobuf-c-dev protobuf-c-compiler libpq-dev
          postgresql libmicrohttpd-dev libjansson-dev zlib1g-dev libcmocka-dev prometheus python3 python3-aiosmtpd
          python3-jsonschema
          curl iproute2 procps util-linux openssl nginx prometheus-blackbox-exporter
          docker.io docker-compose debootstrap systemd dpkg-dev file nodejs chromium)
# npm installs test_openapi's OpenAPI validator: Debian's nodejs has it in the package npm,
# NodeSource's nodejs ships it itself (and conflicts with Debian's npm)
command -v npm >/dev/null 2>&1 || packages+=(npm)
# shellcheck source=lib/deps.sh
source "$root/tests/lib/deps.sh"
if ((no_install)); then
    mapfile -t miss < <(sd_missing_packages "${packages[@]}")
    if ((${#miss[@]})); then echo "run.sh: missing packages: ${miss[*]}" >&2; exit 1; fi
else
    sd_ensure_packages "${packages[@]}"
fi
if [[ ! -x /usr/bin/python3 ]]; then
    echo "run.sh: /usr/bin/python3 (Debian's python3) is required by the tests" >&2
    exit 1
fi

# --- dockerd for the deploy tests (test_compose, test_packages): start one if none runs and
# stop the one started here at exit, by its pid. Not needed for --quick (unit tests only).
# shellcheck source=lib/docker.sh
source "$root/tests/lib/docker.sh"
if ((!quick)); then
    sd_docker_start || echo "run.sh: no Docker engine; the deploy tests will fail" >&2
    sd_rc=0
    trap 'sd_rc=$?; sd_docker_stop; (exit "$sd_rc"); on_exit' EXIT
fi

timed() {   # timed LABEL CMD...: runs CMD, records its duration; fails the script on failure
    local label="$1" t0 rc=0
    shift
    t0=$(date +%s)
    echo
    echo "=== $label ==="
    "$@" || rc=$?
    step_times+=("$(printf '%-34s %4ds  %s' "$label" $(( $(date +%s) - t0 )) \
                   "$([[ $rc -eq 0 ]] && echo ok || echo "FAILED (exit $rc)")")")
    return "$rc"
}

build() {   # build DIR CC EXTRA_CMAKE_ARGS...
    local dir="$1" cc="$2"
    shift 2
    cmake -S "$root" -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" &&
        cmake --build "$dir" -j "$jobs"
}

# run_ctest DIR LAST [FAULTS [SKIP [UNIT_SKIP]]]: unit tests in parallel, process-level tests serially, then the
# fuzz tests (only the sanitizer build has them) two at a time. The test labelled "long" (5
# minutes of PostgreSQL outage, mostly waiting) runs once, in the LAST build (1), in the
# background of that build's other tests. FAULTS (optional): the scenarios of
# test_db_faults.py to run in this build (STATUSD_FAULTS; empty: all of them). SKIP
# (optional): a ctest -E regex of process-level tests not run in this build; UNIT_SKIP: the
# same for unit tests.
run_ctest() {
    local dir="$1" last="$2" faults="${3:-}" skip="${4:-}" unit_skip="${5:-}" rc=0 long_pid=""
    local long_log="$1/long-tests.log" sel=() skip_sel=() unit_skip_sel=()
    [[ -n "$skip" ]] && skip_sel=(-E "$skip")
    [[ -n "$unit_skip" ]] && unit_skip_sel=(-E "$unit_skip")
    [[ -n "$regex" ]] && sel=(-R "$regex")
    if ((!quick && last)); then
        ctest --test-dir "$dir" --output-on-failure --no-tests=ignore -L long "${sel[@]}" \
            >"$long_log" 2>&1 &
        long_pid=$!
        echo "run_ctest: the long test runs in the background (log $long_log)"
    fi
    ctest --test-dir "$dir" --output-on-failure --no-tests=ignore -L unit -j "$unit_j" "${sel[@]}" \
        "${unit_skip_sel[@]}" || rc=1
    if ((!quick)); then
        STATUSD_FAULTS="$faults" ctest --test-dir "$dir" --output-on-failure --no-tests=ignore \
            -LE 'unit|fuzz|long' -j 1 "${sel[@]}" "${skip_sel[@]}" || rc=1
        # 12 s of fuzzing per harness: ~50 s for eight at -j2
        ctest --test-dir "$dir" --output-on-failure --no-tests=ignore -L fuzz -j "$unit_j" "${sel[@]}" || rc=1
    fi
    if [[ -n "$long_pid" ]]; then
        wait "$long_pid" || rc=1
        cat "$long_log"
    fi
    return "$rc"
}

gcc_dir="${STATUSD_BUILD_DIR:-$root/build}"
asan_dir="${STATUSD_ASAN_BUILD_DIR:-$root/build-asan}"
failed=0
echo "build dirs: $gcc_dir $asan_dir"
timed "build (gcc)" build "$gcc_dir" gcc || exit 1
# the fault matrix runs whole in the gcc build; under the sanitizers (about 20 s a scenario)
# the scenarios that each reach different code: stop -m fast, a target breaking while
# PostgreSQL is down, hostile text (base and final always run)
timed "ctest (gcc)" run_ctest "$gcc_dir" "$gcc_only" || failed=1
if ((!quick && !gcc_only)); then
    timed "build (clang+asan)" build "$asan_dir" clang -DSTATUSD_SANITIZE=ON || exit 1
    # under the sanitizers, the region test (network namespaces, ~2.5 min of mostly waiting on
    # the same engine code the unit tests run under ASan), the dashboard test (JSON of
    # Grafana), the blackbox comparison and the CLI test (probe verdicts and argument errors:
    # the probes run under ASan in their unit tests and fuzz harnesses) are left to the gcc
    # build: the 25-minute budget
    # and the channels' delivery tests against their fake services (about 90 s of waiting on
    # retry hints; the channels' own unit tests and the notifier's run under ASan), the
    # engine's agent-liveness test (30 s of waiting on heartbeats; the liveness rules' unit
    # tests and test_engine_agents_pg run under ASan), and the
    # storm test (30 s of waiting on digest windows; the digest code's unit and _pg tests run
    # under ASan), the uptime test (waiting on a timed outage; the uptime and badge code's
    # unit and _pg tests run under ASan), the status page test (waiting on a browser; the
    # page's script runs in test_api_pg, which runs under ASan) and the reload test (waiting
    # on outages and pages; test_config_ref, test_config_diff and test_engine_reload_pg run
    # under ASan)
    timed "ctest (clang+asan)" run_ctest "$asan_dir" 1 "${STATUSD_ASAN_FAULTS-a,e,g}" \
        "${STATUSD_ASAN_SKIP-^integration\.test_(regions|dashboards|blackbox_diff|cli|storm|uptime|status_page|reload)\$}" \
        "${STATUSD_ASAN_UNIT_SKIP-^unit\.collector\.test_(notifier_chat|notifier_pagerduty_webhook|channel_email|engine_liveness)_pg\$}" \
        || failed=1
fi
exit "$failed"
