#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# deploy/quickstart.sh: StatusD on one machine, in the foreground, in one command.
# Builds, then starts a private PostgreSQL (./var/pg), the demo targets and a fake
# Slack/Teams receiver, the collector and two agents (eu-west, us-east). Ctrl-C stops all.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: deploy/quickstart.sh [--port-base N] [--no-install] [--no-build] [--no-demo-history]
                           [-j N] [--help]

Starts, all on 127.0.0.1, logging to ./var/log/*.log (nothing is tailed):
  PostgreSQL      private cluster in ./var/pg (data kept between runs)
  demo targets    deploy/demo_targets.py: /healthy /status/NNN /slow /flaky   (port 18080)
  fake webhooks   tests/lib/fake_webhook.py, Slack and Teams stand-in; every message
                  is one JSON line in ./var/log/webhook.log                   (port 18081)
  collector       config/manifest.json + config/notifiers.json; API, status page and
                  /metrics on 8080, agents' ZeroMQ endpoint on 5555
  two agents      regions eu-west and us-east
A busy port is replaced by the next free one (the config is rewritten into ./var/run/).
On a fresh database, 14 days of made-up history (DEMO DATA: deploy/demo_history.sql) are seeded
once, so that the status page's bars are not empty; the page says so (statusPage.demoNotice).
Runs in the foreground; Ctrl-C (SIGINT) or SIGTERM stops everything it started.

  --port-base N   API on N, ZeroMQ N+1, demo targets N+2, webhooks N+3, PostgreSQL N+4
  --no-install    never call apt-get (fail if a package is missing)
  --no-build      use the binaries already in build/
  --no-demo-history  do not seed a fresh database with demo history
  -j N            build parallelism (default: number of cores)
Environment: STATUSD_BUILD_DIR overrides the build directory (default: build/).
USAGE
}

port_base=""; no_install=0; no_build=0; no_demo=0; jobs=$(nproc 2>/dev/null || echo 2)
while (($#)); do
    case "$1" in
        --port-base) shift; port_base="${1:?--port-base needs a port}" ;;
        --port-base=*) port_base="${1#*=}" ;;
        --no-install) no_install=1 ;;
        --no-build) no_build=1 ;;
        --no-demo-history) no_demo=1 ;;
        -j) shift; jobs="${1:?-j needs a number}" ;;
        -h|--help) usage; exit 0 ;;
        *) echo "quickstart: unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
if [[ -n "$port_base" ]] && ! [[ "$port_base" =~ ^[0-9]+$ && "$port_base" -ge 1024 && "$port_base" -le 65000 ]]; then
    echo "quickstart: --port-base must be a number in 1024..65000" >&2
    exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
var="$root/var"
mkdir -p "$var/log" "$var/run"
say() { printf 'quickstart: %s\n' "$*"; }

# --- one instance at a time; clean up after a run that was killed ---------------------------
# pid files: var/run/NAME.pid holding "PID EXE-NAME", so a recycled pid is never killed
proc_matches() {   # proc_matches PID REGEX: PID is alive and its command line matches REGEX
    local pid="$1" rx="$2"
    [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -Eq -- "$rx"
}
if [[ -f "$var/run/quickstart.pid" ]]; then
    read -r qpid _ <"$var/run/quickstart.pid" || true
    if [[ -n "${qpid:-}" && "$qpid" != "$$" ]] && proc_matches "$qpid" quickstart.sh; then
        echo "quickstart: already running (pid $qpid); stop it with Ctrl-C or: kill $qpid" >&2
        exit 1
    fi
fi
stop_pidfile() {   # stop_pidfile FILE [OWN]: SIGTERM the recorded process, SIGKILL after 10 s
    local f="$1" pid name i
    [[ -f "$f" ]] || return 0
    read -r pid name <"$f" || true
    # our own child may not have exec'd yet: it still looks like this script
    [[ -n "${2:-}" && -n "${name:-}" ]] && name="$name|quickstart\.sh"
    if [[ -n "${pid:-}" && -n "${name:-}" ]] && proc_matches "$pid" "$name"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            proc_matches "$pid" "$name" || break
            sleep 0.1
        done
        if proc_matches "$pid" "$name"; then
            say "$(basename "$f" .pid) (pid $pid) ignored SIGTERM: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$f"
}
stale=0
for f in "$var"/run/agent-*.pid "$var/run/collector.pid" "$var/run/demo.pid" \
         "$var/run/webhook.pid"; do
    [[ -f "$f" ]] && { stale=1; stop_pidfile "$f"; }
done
if [[ -f "$var/pg/data/postmaster.pid" ]]; then
    stale=1
    /usr/bin/python3 tests/lib/pgtmp.py down "$var/pg" >/dev/null 2>&1 || true
fi
((stale)) && say "cleaned up after a previous run that did not stop cleanly"
echo "$$ quickstart.sh" >"$var/run/quickstart.pid"

started=()   # pid files of what we started, in start order
pg_started=0
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    echo
    say "stopping..."
    for ((i = ${#started[@]} - 1; i >= 0; i--)); do
        stop_pidfile "${started[i]}" own
    done
    if ((pg_started)); then
        /usr/bin/python3 tests/lib/pgtmp.py down "$var/pg" >/dev/null 2>&1 ||
            say "PostgreSQL did not stop cleanly (see $var/pg/postgres.log)"
    fi
    rm -f "$var/run/quickstart.pid"
    say "stopped everything (exit $rc)"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- install, build -----------------------------------------------------------------------
packages=(build-essential cmake pkg-config gcc libczmq-dev libzmq3-dev libcurl4-openssl-dev libssl-dev
          libc-ares-dev libprotobuf-c-dev protobuf-c-compiler libpq-dev postgresql
          libmicrohttpd-dev libjansson-dev zlib1g-dev libcmocka-dev python3 curl iproute2 procps)
# shellcheck source=../tests/lib/deps.sh
source "$root/tests/lib/deps.sh"
if ((no_install)); then
    mapfile -t miss < <(sd_missing_packages "${packages[@]}")
    if ((${#miss[@]})); then echo "quickstart: missing packages: ${miss[*]}" >&2; exit 1; fi
else
    sd_ensure_packages "${packages[@]}"
fi
bin="${STATUSD_BUILD_DIR:-$root/build}"
if ((!no_build)); then
    say "building (log: var/log/build.log)"
    if ! { cmake -S "$root" -B "$bin" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
           cmake --build "$bin" -j "$jobs" --target statusd-agent statusd-collector statusd-keygen; } \
           >"$var/log/build.log" 2>&1; then
        tail -n 30 "$var/log/build.log" >&2
        echo "quickstart: build failed (full log: var/log/build.log)" >&2
        exit 1
    fi
fi
for b in statusd-collector statusd-agent statusd-keygen; do
    [[ -x "$bin/$b" ]] || { echo "quickstart: $bin/$b missing (build first)" >&2; exit 1; }
done

# --- ports --------------------------------------------------------------------------------
port_free() {
    /usr/bin/python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("0.0.0.0", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}
taken=" "
pick_port() {   # pick_port WANTED: WANTED if free, else the next free port above it
    local p="$1"
    while [[ "$taken" == *" $p "* ]] || ! port_free "$p"; do
        p=$((p + 1))
        ((p < 65535)) || { echo "quickstart: no free port above $1" >&2; return 1; }
    done
    taken+="$p "
    echo "$p"
}
if [[ -n "$port_base" ]]; then
    want=("$port_base" $((port_base + 1)) $((port_base + 2)) $((port_base + 3)) $((port_base + 4)))
else
    want=(8080 5555 18080 18081 15432)
fi
api_port=$(pick_port "${want[0]}")
zmq_port=$(pick_port "${want[1]}")
targets_port=$(pick_port "${want[2]}")
webhook_port=$(pick_port "${want[3]}")
pg_port=$(pick_port "${want[4]}")
for pair in "API:${want[0]}:$api_port" "ZeroMQ:${want[1]}:$zmq_port" \
            "demo targets:${want[2]}:$targets_port" "webhooks:${want[3]}:$webhook_port"; do
    IFS=: read -r what w got <<<"$pair"
    [[ "$w" == "$got" ]] || say "port $w ($what) is busy: using $got"
done

# The shipped config names the default ports; rewrite it for the ports actually used.
/usr/bin/python3 - "$root/config" "$var/run" "$api_port" "$targets_port" "$webhook_port" <<'PY'
import json, os, sys
src, dst, api, targets, hook = sys.argv[1:]
def sub(s):
    return (s.replace("127.0.0.1:18080", "127.0.0.1:@T@").replace("127.0.0.1:18081", "127.0.0.1:@W@")
             .replace("127.0.0.1:8080", "127.0.0.1:" + api)
             .replace("@T@", targets).replace("@W@", hook))
for name in ("manifest.json", "notifiers.json"):
    with open(os.path.join(src, name)) as f:
        text = f.read()
    json.loads(text)  # fail early on a broken sample
    with open(os.path.join(dst, name), "w") as f:
        f.write(sub(text))
PY

# --- start --------------------------------------------------------------------------------
start_bg() {   # start_bg NAME MATCH LOG CMD...: runs CMD in the background; var/run/NAME.pid
    local name="$1" match="$2" logf="$3"   # holds "PID MATCH" (MATCH: a word of its cmdline)
    shift 3
    printf -- '---- %s %s\n' "$(date '+%F %T')" "$*" >>"$logf"
    "$@" >>"$logf" 2>&1 </dev/null &
    echo "$! $match" >"$var/run/$name.pid"
    started+=("$var/run/$name.pid")
}
alive() {   # alive NAME
    local pid exe
    read -r pid exe <"$var/run/$1.pid" 2>/dev/null || return 1
    proc_matches "$pid" "$exe|quickstart\.sh"
}
fail_with_log() {   # fail_with_log NAME LOG MESSAGE
    echo "quickstart: $3; last lines of $2:" >&2
    tail -n 25 "$2" >&2 || true
    exit 1
}

say "starting PostgreSQL on 127.0.0.1:$pg_port (data: var/pg, log: var/pg/postgres.log)"
pg_started=1
conninfo=$(/usr/bin/python3 tests/lib/pgtmp.py up "$var/pg" "$pg_port" 2>"$var/log/pg-start.log") ||
    fail_with_log postgres "$var/log/pg-start.log" "PostgreSQL did not start"

# DEMO DATA: a fresh database (no tables yet) gets 14 days of made-up history once the collector
# has created the assets (deploy/demo_history.sql); while the database holds it
# (statusd_demo_history), the page says so: the manifest's statusPage.demoNotice
demo_history=0
if [[ -n "$(psql "$conninfo" -Atc "SELECT to_regclass('statusd_demo_history')")" ]]; then
    demo_history=1   # seeded by an earlier run
elif ((!no_demo)) && [[ -z "$(psql "$conninfo" -Atc "SELECT to_regclass('assets')")" ]]; then
    demo_history=1   # a fresh database
fi
if ((demo_history)); then
    /usr/bin/python3 - "$var/run/manifest.json" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f:
    m = json.load(f)
m.setdefault("statusPage", {}).setdefault(
    "demoNotice", "the history before this quickstart's first start is made up by "
    "deploy/demo_history.sql, to show what the page looks like (docs/operations.md says how "
    "to remove it).")
with open(path, "w") as f:
    json.dump(m, f, indent=2)
PY
fi

start_bg demo demo_targets "$var/log/targets.log" /usr/bin/python3 "$root/deploy/demo_targets.py" \
    --port "$targets_port"
# Slack answers 200 "ok", Teams Workflows 202; each request is one JSON line in webhook.log
start_bg webhook fake_webhook "$var/log/webhook-server.log" /usr/bin/python3 \
    "$root/tests/lib/fake_webhook.py" --port "$webhook_port" --log "$var/log/webhook.log"
# CURVE certificates (made once, kept in var/keys): the collector's pair, and one pair per
# agent whose public half goes into the collector's agents directory (that is enrolment)
keys="$var/keys"
mkdir -p "$keys/collector" "$keys/agents" "$keys/agents.d"
chmod 700 "$keys"
[[ -f "$keys/collector/collector.cert_secret" ]] ||
    "$bin/statusd-keygen" --dir "$keys/collector" collector >/dev/null
for region in eu-west us-east; do
    [[ -f "$keys/agents/agent-$region.cert_secret" ]] ||
        "$bin/statusd-keygen" --dir "$keys/agents" --region "$region" "agent-$region" >/dev/null
    cp "$keys/agents/agent-$region.cert" "$keys/agents.d/"
done
start_bg collector statusd-collector "$var/log/collector.log" "$bin/statusd-collector" \
    --manifest "$var/run/manifest.json" --notifiers "$var/run/notifiers.json" \
    --db "$conninfo" --bind "tcp://127.0.0.1:$zmq_port" --api-port "$api_port" \
    --api-bind 127.0.0.1 --migrations "$root/migrations" \
    --cert "$keys/collector/collector.cert_secret" --agents-dir "$keys/agents.d"

t0=$(date +%s)
until curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$api_port/api/health" 2>/dev/null; do
    alive collector || fail_with_log collector "$var/log/collector.log" "the collector exited"
    alive demo || fail_with_log demo "$var/log/targets.log" "the demo targets exited"
    alive webhook || fail_with_log webhook "$var/log/webhook-server.log" "the fake webhook exited"
    (($(date +%s) - t0 < 60)) ||
        fail_with_log collector "$var/log/collector.log" "no answer from /api/health in 60 s"
    sleep 0.2
done

if ((demo_history)); then
    # the collector creates the manifest's assets as it starts
    for ((i = 0; i < 50; i++)); do
        [[ "$(psql "$conninfo" -Atc "SELECT count(*) FROM assets WHERE in_manifest")" != 0 ]] && break
        sleep 0.2
    done
    if psql "$conninfo" -q -v ON_ERROR_STOP=1 -f "$root/deploy/demo_history.sql" \
            >>"$var/log/demo-history.log" 2>&1; then
        say "$(grep -o "demo data: .*" "$var/log/demo-history.log" | tail -n 1)"
    else
        say "demo history not seeded (see var/log/demo-history.log)"
    fi
fi

for region in eu-west us-east; do
    mkdir -p "$var/spool/agent-$region"
    start_bg "agent-$region" statusd-agent "$var/log/agent-$region.log" "$bin/statusd-agent" \
        --collector "tcp://127.0.0.1:$zmq_port" --id "agent-$region" --region "$region" \
        --cert "$keys/agents/agent-$region.cert_secret" \
        --collector-cert "$keys/collector/collector.cert" --spool-dir "$var/spool/agent-$region"
done

cat <<EOF

  StatusD is running (Ctrl-C stops everything, PostgreSQL included).

  Status page   http://127.0.0.1:$api_port/$( ((demo_history)) && printf '%s' '   (with DEMO history: deploy/demo_history.sql)')
  REST API      http://127.0.0.1:$api_port/api/assets   /api/incidents?state=all   /api/health
  Metrics       http://127.0.0.1:$api_port/metrics
  Agents        agent-eu-west, agent-us-east -> tcp://127.0.0.1:$zmq_port (CURVE;
                certificates in var/keys, admitted ones in var/keys/agents.d)
  Demo targets  http://127.0.0.1:$targets_port/   (demo-broken is red on purpose; demo-flaky
                goes down for 2 minutes every 5)
  PostgreSQL    psql "$conninfo"
  Config        var/run/manifest.json, var/run/notifiers.json (from config/)

  Logs (not tailed): var/log/collector.log, var/log/agent-eu-west.log,
  var/log/agent-us-east.log, var/log/targets.log, var/pg/postgres.log
  Notifications sent to the fake Slack/Teams (one JSON line each): var/log/webhook.log
    e.g.  tail -f var/log/webhook.log

EOF

# --- foreground: until Ctrl-C, or until something we started dies ---------------------------
while :; do
    for name in collector demo webhook agent-eu-west agent-us-east; do
        if ! alive "$name"; then
            case "$name" in
                demo) logf="$var/log/targets.log" ;;
                webhook) logf="$var/log/webhook-server.log" ;;
                *) logf="$var/log/$name.log" ;;
            esac
            fail_with_log "$name" "$logf" "$name exited unexpectedly"
        fi
    done
    sleep 1 &
    wait $! || true
done
