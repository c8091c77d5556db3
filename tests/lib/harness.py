"""harness: process-level test harness for StatusD integration tests (stdlib only).

    from harness import TestEnv, run_test, wait_for, http_get_json
    def main(env):
        pg = env.start_pg()
        col = env.start_collector(pg, manifest={...}, notifiers={...})
        ...
    if __name__ == "__main__":
        run_test(main)

Every process, server thread and temp dir a test starts through TestEnv is cleaned up when
run_test returns, when the interpreter exits (atexit) and on SIGTERM/SIGINT. Child
processes also get PR_SET_PDEATHSIG, so they die with the test even on SIGKILL.
On failure, the last lines of every process log are printed.
"""
import atexit
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgtmp import PgCluster  # noqa: E402

SOURCE_DIR = os.environ.get("STATUSD_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD_DIR = os.environ.get("STATUSD_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
AGENT_BIN = os.environ.get("STATUSD_AGENT_BIN") or os.path.join(BUILD_DIR, "statusd-agent")
COLLECTOR_BIN = os.environ.get("STATUSD_COLLECTOR_BIN") or os.path.join(BUILD_DIR,
                                                                          "statusd-collector")
KEYGEN_BIN = os.environ.get("STATUSD_KEYGEN_BIN") or os.path.join(
    os.path.dirname(COLLECTOR_BIN), "statusd-keygen")
# Sanitizer builds are slower: scale every deadline by this factor.
SLOW = float(os.environ.get("STATUSD_TEST_SLOWDOWN", "1"))
if "sanitize" in COLLECTOR_BIN or "asan" in COLLECTOR_BIN:
    SLOW = max(SLOW, 2.0)


# --- small helpers ------------------------------------------------------------------------

def log(msg):
    print("[%7.3f] %s" % (time.monotonic() - _T0, msg), flush=True)


_T0 = time.monotonic()
_measures = []


def measure(label, seconds):
    """Records and prints a measured duration (summarised at the end of run_test)."""
    _measures.append((label, seconds))
    log("MEASURED %s: %.3f s" % (label, seconds))
    return seconds


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WaitTimeout(AssertionError):
    pass


def wait_for(cond, timeout, what, interval=0.05, procs=()):
    """Polls cond() until it returns a truthy value and returns that value.
    Raises WaitTimeout naming `what` (and cond's last exception) after `timeout` seconds
    (scaled by SLOW). Fails at once when one of `procs` has exited."""
    timeout *= SLOW
    t0 = time.monotonic()
    last_exc = None
    while True:
        try:
            v = cond()
            if v:
                return v
            last_exc = None
        except Exception as e:  # noqa: BLE001 - reported below
            last_exc = e
        for p in procs:
            if not p.alive():
                raise AssertionError("%s exited (rc=%s) while waiting for %s"
                                     % (p.name, p.returncode(), what))
        if time.monotonic() - t0 > timeout:
            msg = "timed out after %.1f s waiting for %s" % (timeout, what)
            if last_exc is not None:
                msg += " (last error: %r)" % (last_exc,)
            raise WaitTimeout(msg)
        time.sleep(interval)


def timed_wait(cond, timeout, what, **kw):
    """wait_for that also returns the elapsed seconds: (value, seconds)."""
    t0 = time.monotonic()
    v = wait_for(cond, timeout, what, **kw)
    return v, time.monotonic() - t0


def wait_all(conds, timeout, procs=(), interval=0.05):
    """Polls several named conditions together until all hold; returns {name: seconds until
    it first held}, so each delay is measured on its own even when they overlap."""
    t0 = time.monotonic()
    seen = {}

    def poll():
        for name, cond in conds.items():
            if name not in seen:
                try:
                    if cond():
                        seen[name] = time.monotonic() - t0
                except Exception:  # noqa: BLE001 - retried until the deadline
                    pass
        return len(seen) == len(conds)
    try:
        wait_for(poll, timeout, "all of: " + ", ".join(conds), interval=interval, procs=procs)
    except WaitTimeout as e:
        raise WaitTimeout("%s; not reached: %s" % (e, ", ".join(n for n in conds
                                                               if n not in seen)))
    return seen


# Every answer of a collector's API that a test receives through http_request (http_get,
# http_get_json) is recorded, and run_test checks each against docs/openapi.json when the
# test's main has passed (tests/lib/openapi_check.py): a response the document does not
# describe (route, method, status, content type or body) fails the test.
_api_bases = set()      # the API base URLs of the collectors start_collector started
_api_responses = []     # (method, path, status, content type, body)


def _record(method, url, status, ctype, body):
    for base in _api_bases:
        if url == base or url.startswith(base + "/"):
            _api_responses.append((method, url[len(base):] or "/", status, ctype, body))
            return


def http_request(url, method="GET", body=None, headers=None, timeout=5.0, check_api=True):
    """One request; returns (status, body as str). HTTP errors are returned, not raised.
    body: bytes, or a dict/list sent as JSON. A collector API's answer is recorded for the
    OpenAPI check of run_test unless check_api is False (a request made to get an
    undocumented answer on purpose)."""
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, ctype, text = r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        status, ctype, text = e.code, e.headers.get("Content-Type"), e.read()
    text = text.decode("utf-8", "replace")
    if check_api:
        _record(method, url, status, ctype, text)
    return status, text


def http_get(url, timeout=5.0):
    """GET url; returns (status, body as str). HTTP errors are returned, not raised."""
    return http_request(url, timeout=timeout)


def check_api_responses():
    """Checks every recorded API answer against docs/openapi.json; raises AssertionError
    naming each one the document does not describe."""
    if not _api_responses:
        return
    import openapi_check  # noqa: E402 - python3-jsonschema, only when there is something to check
    spec = openapi_check.load()
    problems, routes = [], set()
    for method, path, status, ctype, body in _api_responses:
        routes.add((method, spec.route(path), status))
        problems += spec.check(method, path, status, ctype, body)
    log("openapi: %d API responses (%d route/status pairs) checked against docs/openapi.json: "
        "%d problems" % (len(_api_responses), len(routes), len(problems)))
    if problems:
        raise AssertionError("API responses not described by docs/openapi.json:\n  " +
                             "\n  ".join(problems[:40]))


def http_get_json(url, timeout=5.0, expect=200):
    """GET url and parse JSON; raises AssertionError when the status is not `expect`."""
    status, body = http_get(url, timeout)
    if expect is not None and status != expect:
        raise AssertionError("GET %s -> %d (expected %d): %s" % (url, status, expect, body[:500]))
    try:
        return json.loads(body)
    except ValueError as e:
        raise AssertionError("GET %s: not JSON (%s): %s" % (url, e, body[:500]))


def check(cond, msg):
    """assert that survives python -O and says what failed."""
    if not cond:
        raise AssertionError(msg)
    log("ok: " + msg)


# --- processes -----------------------------------------------------------------------------

_libc = None


def _pdeathsig():
    # runs in the child between fork and exec: die with the parent
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort
        pass


class Proc:
    """A child process whose stdout+stderr go to LOGDIR/NAME.log (appended across restarts)."""

    def __init__(self, name, argv, logdir, env=None, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.logpath = os.path.join(logdir, name + ".log")
        self.env = env
        self.cwd = cwd
        self.p = None
        self.started_at = None
        self._logf = None

    def start(self):
        if self.alive():
            raise RuntimeError("%s already running" % self.name)
        self._close_log()
        self._logf = open(self.logpath, "ab")
        self._logf.write(("---- %s: %s\n" % (time.strftime("%H:%M:%S"),
                                             " ".join(self.argv))).encode())
        self._logf.flush()
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.p = subprocess.Popen(self.argv, stdout=self._logf, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env, cwd=self.cwd,
                                  preexec_fn=_pdeathsig)
        self.started_at = time.monotonic()
        log("started %s pid=%d: %s" % (self.name, self.p.pid, " ".join(self.argv)))
        return self

    @property
    def pid(self):
        return self.p.pid if self.p else None

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def returncode(self):
        return self.p.poll() if self.p else None

    def signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def wait_exit(self, timeout):
        """Waits for the process to exit; returns its exit code or raises WaitTimeout."""
        try:
            return self.p.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            raise WaitTimeout("%s (pid %d) did not exit within %.1f s"
                              % (self.name, self.p.pid, timeout * SLOW))

    def kill9(self):
        """SIGKILL and reap; returns the exit code (-9)."""
        if self.p is None:
            return None
        if self.alive():
            self.p.kill()
        rc = self.p.wait()
        log("killed %s with SIGKILL (rc=%s)" % (self.name, rc))
        self._close_log()
        return rc

    def stop(self, timeout=10.0):
        """SIGTERM, wait up to timeout, then SIGKILL. Returns the exit code."""
        if self.p is None:
            return None
        if self.alive():
            t0 = time.monotonic()
            self.p.terminate()
            try:
                rc = self.p.wait(timeout=timeout * SLOW)
                log("stopped %s (rc=%s) in %.3f s" % (self.name, rc, time.monotonic() - t0))
            except subprocess.TimeoutExpired:
                log("%s ignored SIGTERM for %.1f s: SIGKILL" % (self.name, timeout * SLOW))
                self.p.kill()
                rc = self.p.wait()
        rc = self.p.returncode
        self._close_log()
        return rc

    def _close_log(self):
        if self._logf:
            self._logf.close()
            self._logf = None

    def log_text(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def wait_log(self, pattern, timeout, what=None):
        """Waits until the log matches regex pattern; returns the match."""
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log_text()), timeout,
                        what or "%s log to match %r" % (self.name, pattern))


# --- an HTTP target the test controls ------------------------------------------------------

class HttpTarget:
    """A local HTTP server in a thread of the test process. Every path answers with the
    current status (200 by default); set_status() changes it, set_body() the body and extra
    headers, down() closes the listening socket (connection refused) and up() reopens it on
    the same port. Counts hits."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.status = 200
        self.body = None
        self.headers = ()
        self.hits = 0
        self.lock = threading.Lock()
        self.srv = None
        self.thread = None

    def url(self, path="/health"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def set_status(self, code):
        with self.lock:
            self.status = code
        log("target %d now answers %d" % (self.port, code))

    def set_body(self, body=None, headers=()):
        """Answers `body` (bytes; None: the default "status N") with extra `headers`, pairs
        (name, value); a str value is sent as Latin-1, so "\\xff" puts the raw byte 0xff on
        the wire (bytes that are not UTF-8)."""
        with self.lock:
            self.body = body
            self.headers = tuple(headers)
        log("target %d now answers body %r headers %r" % (self.port, (body or b"")[:80],
                                                           self.headers))

    def up(self):
        if self.srv:
            return self
        target = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with target.lock:
                    target.hits += 1
                    code = target.status
                    body = target.body
                    extra = target.headers
                if body is None:
                    body = ("status %d\n" % code).encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

            def log_message(self, *a):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.srv = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.srv.daemon_threads = True
        self.thread = threading.Thread(target=self.srv.serve_forever, name="target",
                                       daemon=True)
        self.thread.start()
        return self

    start = up

    def down(self):
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()
            self.thread.join(5)
            self.srv = None
            log("target %d is down (connection refused)" % self.port)

    stop = down


# --- fake webhook receiver -----------------------------------------------------------------

try:
    from fake_webhook import FakeWebhook  # the alert engineer's (tests/lib/fake_webhook.py)
except ImportError:
    FakeWebhook = None

if FakeWebhook is None:
    class FakeWebhook:  # minimal stand-in: POST -> 200 "ok", records requests
        def __init__(self, port=0, status=200, body=b"ok"):
            self.port = port
            self.status = status
            self.body = body
            self._msgs = []
            self._lock = threading.Lock()
            self.srv = None

        def start(self):
            hook = self

            class H(BaseHTTPRequestHandler):
                def do_POST(self):
                    n = int(self.headers.get("Content-Length") or 0)
                    data = self.rfile.read(n) if n else b""
                    try:
                        js = json.loads(data.decode("utf-8"))
                    except ValueError:
                        js = None
                    with hook._lock:
                        hook._msgs.append({"path": self.path, "headers": dict(self.headers),
                                           "body": data.decode("utf-8", "replace"),
                                           "json": js, "at": time.time()})
                    self.send_response(hook.status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(hook.body)))
                    self.end_headers()
                    self.wfile.write(hook.body)

                def log_message(self, *a):
                    pass

            self.srv = ThreadingHTTPServer(("127.0.0.1", self.port), H)
            self.port = self.srv.server_address[1]
            threading.Thread(target=self.srv.serve_forever, daemon=True).start()
            return self

        @property
        def url(self):
            return "http://127.0.0.1:%d/hook" % self.port

        def messages(self):
            with self._lock:
                return list(self._msgs)

        def stop(self):
            if self.srv:
                self.srv.shutdown()
                self.srv.server_close()
                self.srv = None


def webhook_url(hook, path="/slack"):
    """A URL that reaches `hook` (whatever its implementation calls the attribute)."""
    u = getattr(hook, "url", None)
    if callable(u):
        u = u()
    if isinstance(u, str) and u:
        return u
    return "http://127.0.0.1:%d%s" % (hook.port, path)


def message_text(msg):
    """The whole text of one recorded webhook request, whatever shape the recorder uses."""
    if isinstance(msg, dict):
        if msg.get("body") is not None:
            b = msg["body"]
            return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)
        return json.dumps(msg)
    if isinstance(msg, (bytes, bytearray)):
        return msg.decode("utf-8", "replace")
    b = getattr(msg, "body", None)
    if b is not None:
        return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)
    return str(msg)


def classify_message(msg):
    """'RECOVERY', 'DOWN' or None for one Slack/Teams message."""
    t = message_text(msg).upper()
    if "RECOVER" in t or "RESOLVED" in t or "#36A64F" in t:
        return "RECOVERY"
    if "DOWN" in t:
        return "DOWN"
    return None


# --- the test environment ------------------------------------------------------------------

_envs = []

# Runs beside the test in its own session: if the test dies without cleaning up (SIGKILL on
# a ctest timeout), it stops the test's PostgreSQL (daemonized by pg_ctl, so PDEATHSIG does
# not reach it) and removes the temp dir. argv: test pid, temp dir, pgtmp.py directory.
_WATCHDOG = r"""
import os, shutil, sys, time
pid, tmp, libdir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
while True:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    if not os.path.isdir(tmp):
        sys.exit(0)
    time.sleep(0.5)
if os.path.isdir(tmp):
    sys.path.insert(0, libdir)
    from pgtmp import PgCluster
    pgdir = os.path.join(tmp, "pg")
    if os.path.isdir(os.path.join(pgdir, "data")):
        try:
            PgCluster(pgdir).stop()
        except Exception as e:
            print("watchdog: %r" % (e,), file=sys.stderr)
    shutil.rmtree(tmp, ignore_errors=True)
"""


def _cleanup_all():
    for e in list(_envs):
        e.cleanup()


atexit.register(_cleanup_all)


def _on_signal(signum, frame):
    log("signal %d: cleaning up" % signum)
    _cleanup_all()
    os._exit(128 + signum)


class TestEnv:
    """A temp dir, and every process/server a test starts; cleanup() undoes all of it."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="statusd-%s-" % name)
        self.logdir = os.path.join(self.dir, "log")
        os.makedirs(self.logdir)
        self.procs = []
        self.servers = []
        self.pgs = []
        self.failed = False
        self._clean = False
        _envs.append(self)
        log("test dir %s" % self.dir)
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(os.getpid()), self.dir,
             os.path.dirname(os.path.abspath(__file__))],
            stdin=subprocess.DEVNULL, start_new_session=True)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write_json(self, name, obj):
        p = self.path(name)
        with open(p, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
        return p

    def write_text(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    # --- CURVE certificates (statusd-keygen) -------------------------------------------
    def keygen(self, name, region=None, dirname="keys"):
        """Writes DIR/name.cert and DIR/name.cert_secret under the test dir (once per
        name); returns (public path, secret path)."""
        d = self.path(dirname)
        os.makedirs(d, exist_ok=True)
        pub, sec = os.path.join(d, name + ".cert"), os.path.join(d, name + ".cert_secret")
        if not os.path.exists(sec):
            argv = [KEYGEN_BIN, "--dir", d] + (["--region", region] if region else []) + [name]
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        return pub, sec

    def agents_dir(self):
        """The collector's --agents-dir: the public certificates of the admitted agents."""
        d = self.path("agents.d")
        os.makedirs(d, exist_ok=True)
        return d

    def enrol(self, agent_id, region=None):
        """Makes agent_id's certificate (naming region when given) and admits it: its public
        certificate goes into agents_dir(). Returns the secret certificate's path."""
        pub, sec = self.keygen(agent_id, region, dirname="agent-keys")
        shutil.copy(pub, os.path.join(self.agents_dir(), agent_id + ".cert"))
        return sec

    def collector_cert(self):
        return self.keygen("collector", dirname="collector-keys")

    def secure_collector_args(self):
        _, sec = self.collector_cert()
        return ["--cert", sec, "--agents-dir", self.agents_dir()]

    def secure_agent_args(self, agent_id, region):
        pub, _ = self.collector_cert()
        return ["--cert", self.enrol(agent_id, region), "--collector-cert", pub]

    def proc(self, name, argv, env=None, cwd=None):
        p = Proc(name, argv, self.logdir, env=env, cwd=cwd)
        self.procs.append(p)
        return p

    def start_pg(self, **kw):
        """A private PostgreSQL (kw: PgCluster options, e.g. commit_safe=True)."""
        t0 = time.monotonic()
        pg = PgCluster(self.path("pg"), **kw)
        self.pgs.append(pg)
        pg.start()
        measure("postgres initdb+start", time.monotonic() - t0)
        return pg

    def target(self, port=None):
        t = HttpTarget(port).up()
        self.servers.append(t)
        return t

    def webhook(self):
        h = FakeWebhook()
        h.start()
        self.servers.append(h)
        return h

    def start_collector(self, pg, manifest, notifiers, api_port=None, zmq_port=None,
                        heartbeat_ms=1000, extra=(), wait_healthy=True, name="collector",
                        secure=True):
        """Starts statusd-collector (manifest/notifiers: dicts, or paths of files), with
        CURVE (this env's collector certificate and agents_dir()) unless secure=False
        (--insecure-plaintext). A notifiers dict without notificationPolicy.storm gets
        {"threshold": 0}: storm collapse off, every page alone. Returns the Proc with .api (base URL), .api_port,
        .zmq_port, .endpoint."""
        if isinstance(notifiers, dict) and "storm" not in notifiers.get("notificationPolicy",
                                                                         {}):
            # the tests count pages per asset: storm collapse (on by default, 3 pages per
            # notifier per minute) is off unless a test sets notificationPolicy.storm
            notifiers = json.loads(json.dumps(notifiers))
            notifiers.setdefault("notificationPolicy", {})["storm"] = {"threshold": 0}
        mpath = manifest if isinstance(manifest, str) else self.write_json("manifest.json",
                                                                            manifest)
        npath = notifiers if isinstance(notifiers, str) else self.write_json("notifiers.json",
                                                                              notifiers)
        api_port = api_port or free_port()
        zmq_port = zmq_port or free_port()
        argv = [COLLECTOR_BIN, "--manifest", mpath, "--notifiers", npath,
                "--db", pg.conninfo, "--bind", "tcp://127.0.0.1:%d" % zmq_port,
                "--api-port", str(api_port), "--api-bind", "127.0.0.1",
                "--migrations", os.path.join(SOURCE_DIR, "migrations"),
                "--heartbeat-ms", str(heartbeat_ms)]
        argv += self.secure_collector_args() if secure else ["--insecure-plaintext"]
        argv += list(extra)
        p = self.proc(name, argv, cwd=self.dir)
        p.api_port, p.zmq_port = api_port, zmq_port
        p.api = "http://127.0.0.1:%d" % api_port
        p.endpoint = "tcp://127.0.0.1:%d" % zmq_port
        _api_bases.add(p.api)
        p.start()
        if wait_healthy:
            self.wait_healthy(p)
        return p

    def restart(self, p, wait_healthy=True):
        """Starts an exited Proc again with the same command line."""
        p.start()
        if wait_healthy and hasattr(p, "api"):
            self.wait_healthy(p)
        return p

    def wait_healthy(self, col, timeout=30):
        _, dt = timed_wait(lambda: http_get(col.api + "/api/health", 1.0)[0] == 200, timeout,
                           "%s /api/health to answer 200" % col.name, interval=0.05,
                           procs=[col])
        measure("%s start -> /api/health 200" % col.name, time.monotonic() - col.started_at)
        return dt

    def start_agent(self, collector, agent_id, region, heartbeat_ms=1000, extra=(),
                    secure=True):
        """Starts statusd-agent connected to `collector` (a collector Proc or an endpoint),
        in its own working directory (for its spool). secure: enrols agent_id (its
        certificate names the region) and connects with CURVE; False: --insecure-plaintext."""
        endpoint = collector if isinstance(collector, str) else collector.endpoint
        cwd = self.path("agent-" + agent_id)
        os.makedirs(cwd, exist_ok=True)
        argv = [AGENT_BIN, "--collector", endpoint, "--id", agent_id, "--region", region,
                "--heartbeat-ms", str(heartbeat_ms)]
        argv += (self.secure_agent_args(agent_id, region) if secure
                 else ["--insecure-plaintext"])
        argv += list(extra)
        p = self.proc("agent-" + agent_id, argv, cwd=cwd)
        p.agent_id, p.region = agent_id, region
        return p.start()

    def dump_logs(self, lines=60):
        for p in self.procs:
            print("\n----- last %d lines of %s (%s) -----" % (lines, p.name, p.logpath))
            print(p.tail(lines))
        for pg in self.pgs:
            lp = os.path.join(pg.dir, "postgres.log")
            if os.path.exists(lp):
                with open(lp, errors="replace") as f:
                    tail = f.read().splitlines()[-20:]
                print("\n----- last 20 lines of postgres.log -----")
                print("\n".join(tail))
        sys.stdout.flush()

    def cleanup(self):
        if self._clean:
            return
        self._clean = True
        for p in reversed(self.procs):
            try:
                p.stop(timeout=5)
            except Exception as e:  # noqa: BLE001
                print("cleanup %s: %r" % (p.name, e))
        for s in self.servers:
            try:
                s.stop()
            except Exception as e:  # noqa: BLE001
                print("cleanup server: %r" % (e,))
        for pg in self.pgs:
            try:
                pg.stop()
            except Exception as e:  # noqa: BLE001
                print("cleanup postgres: %r" % (e,))
        if self.failed and os.environ.get("STATUSD_KEEP_TMP"):
            print("kept %s (STATUSD_KEEP_TMP)" % self.dir)
            self._watchdog.kill()
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        try:
            self._watchdog.wait(timeout=5)  # it exits once the temp dir is gone
        except subprocess.TimeoutExpired:
            self._watchdog.kill()
            self._watchdog.wait()
        if self in _envs:
            _envs.remove(self)


def run_test(main, name=None):
    """Runs main(env) in a fresh TestEnv; exits 0 on success, 1 on failure (with logs)."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    name = name or os.path.splitext(os.path.basename(sys.argv[0]))[0]
    for b in (AGENT_BIN, COLLECTOR_BIN):
        if not os.access(b, os.X_OK):
            print("FAIL: binary not found: %s (build first, or set STATUSD_*_BIN)" % b)
            sys.exit(1)
    env = TestEnv(name)
    t0 = time.monotonic()
    ok = False
    try:
        main(env)
        check_api_responses()
        ok = True
    except BaseException as e:  # noqa: BLE001 - reported, then exit 1
        env.failed = True
        print("\nFAIL: %s: %s" % (type(e).__name__, e))
        traceback.print_exc()
        env.dump_logs()
    finally:
        env.cleanup()
    if _measures:
        print("\n=== measured ===")
        for label, s in _measures:
            print("  %-58s %8.3f s" % (label, s))
    print("%s: %s in %.1f s" % (name, "PASSED" if ok else "FAILED", time.monotonic() - t0))
    sys.exit(0 if ok else 1)
