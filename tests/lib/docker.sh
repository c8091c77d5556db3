# shellcheck shell=bash
# docker.sh: sourced by tests/run.sh. The deploy tests (tests/integration/test_compose.py,
# test_packages.py) need a Docker engine.
# sd_docker_start: starts `dockerd` in the background (own log file) when `docker info` does
#   not answer, and waits up to 60 s for it. Sets sd_dockerd_pid only when it started one.
# sd_docker_stop: stops the dockerd that sd_docker_start started (by its pid), nothing else.
sd_dockerd_pid=""
sd_dockerd_log=""

sd_docker_start() {
    local i
    if docker info >/dev/null 2>&1; then
        echo "docker: using the running engine"
        return 0
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        echo "docker: no engine runs and dockerd is not installed (Debian: docker.io)" >&2
        return 1
    fi
    if [[ $(id -u) -ne 0 ]]; then
        echo "docker: no engine runs and starting dockerd needs root" >&2
        return 1
    fi
    sd_dockerd_log=$(mktemp "${TMPDIR:-/tmp}/statusd-dockerd.XXXXXX.log")
    dockerd >"$sd_dockerd_log" 2>&1 </dev/null &
    sd_dockerd_pid=$!
    for ((i = 0; i < 300; i++)); do
        if docker info >/dev/null 2>&1; then
            echo "docker: started dockerd pid=$sd_dockerd_pid (log $sd_dockerd_log)"
            return 0
        fi
        if ! kill -0 "$sd_dockerd_pid" 2>/dev/null; then break; fi
        sleep 0.2
    done
    echo "docker: dockerd did not come up; last lines of $sd_dockerd_log:" >&2
    tail -n 20 "$sd_dockerd_log" >&2
    sd_docker_stop
    return 1
}

sd_docker_stop() {
    local i
    [[ -n "$sd_dockerd_pid" ]] || return 0
    if kill -0 "$sd_dockerd_pid" 2>/dev/null; then
        kill -TERM "$sd_dockerd_pid" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do
            kill -0 "$sd_dockerd_pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$sd_dockerd_pid" 2>/dev/null; then kill -KILL "$sd_dockerd_pid" 2>/dev/null || true; fi
        wait "$sd_dockerd_pid" 2>/dev/null || true
        echo "docker: stopped dockerd pid=$sd_dockerd_pid"
    fi
    rm -f "$sd_dockerd_log"
    sd_dockerd_pid=""
}
