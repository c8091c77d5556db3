"""deploy_common: helpers shared by the deploy tests (compose, packages, dashboards). Stdlib only."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

SOURCE_DIR = os.environ.get("STATUSD_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD_DIR = os.environ.get("STATUSD_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
_T0 = time.monotonic()
TIMINGS = []


def log(msg):
    print("[%7.1f] %s" % (time.monotonic() - _T0, msg), flush=True)


def measure(label, t0):
    dt = time.monotonic() - t0
    TIMINGS.append((label, dt))
    log("MEASURED %s: %.1f s" % (label, dt))
    return dt


def print_timings():
    print("=== timings ===", flush=True)
    for label, dt in TIMINGS:
        print("  %-44s %7.1f s" % (label, dt), flush=True)
    print("  %-44s %7.1f s" % ("total", time.monotonic() - _T0), flush=True)


def sanitizer_build():
    """True when STATUSD_BUILD_DIR is the ASan/UBSan build (its binaries are not shippable)."""
    try:
        with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
            return any(line.strip() == "STATUSD_SANITIZE:BOOL=ON" for line in f)
    except OSError:
        return False


def wait_for(cond, timeout, what, interval=0.5):
    t0 = time.monotonic()
    last = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - reported on timeout
            last = e
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out after %.0fs waiting for %s%s"
                                 % (timeout, what, "" if last is None else " (last error: %r)" % last))
        time.sleep(interval)


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def http_json(url, timeout=5.0):
    st, body = http_get(url, timeout)
    if st != 200:
        raise AssertionError("%s: HTTP %d" % (url, st))
    return json.loads(body)


def run(cmd, timeout=600, check=True, capture=True, **kw):
    r = subprocess.run(cmd, timeout=timeout, stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.STDOUT if capture else None, **kw)
    if check and r.returncode != 0:
        out = (r.stdout or b"").decode(errors="replace")
        raise AssertionError("command failed (exit %d): %s\n%s"
                             % (r.returncode, " ".join(cmd), out[-6000:]))
    return (r.stdout or b"").decode(errors="replace")


def _terminate(signum, frame):
    raise SystemExit("terminated by signal %d" % signum)


def main_wrapper(fn):
    """Runs fn(); exit 0 on success, 1 on failure. SIGTERM/SIGINT (a ctest timeout) raise
    SystemExit, so every `finally` (docker-compose down -v, dockerd stop) still runs."""
    import signal
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    rc = 0
    try:
        fn()
        log("PASS")
    except (Exception, SystemExit) as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        log("FAIL: %s" % e)
        rc = 1
    finally:
        print_timings()
    sys.exit(rc)
