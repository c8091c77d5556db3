"""Command lines of both binaries: --help/--version, unknown flags (exit 2), config errors
(exit 1 naming file:line:col and the field), and the shipped sample config starts for real.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (AGENT_BIN, COLLECTOR_BIN, KEYGEN_BIN, SOURCE_DIR, check, free_port,  # noqa
                     http_get, log, measure, run_test)

BINS = (("statusd-agent", AGENT_BIN), ("statusd-collector", COLLECTOR_BIN),
        ("statusd-keygen", KEYGEN_BIN))
# a database nobody listens on: a config error must be reported before any connection
NO_DB = "host=127.0.0.1 port=1 dbname=none connect_timeout=1"


def run(argv, timeout=20):
    t0 = time.monotonic()
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr, time.monotonic() - t0


def collector_with(env, name, manifest_text, notifiers_text=None):
    m = env.write_text(name, manifest_text)
    n = os.path.join(SOURCE_DIR, "config", "notifiers.json")
    if notifiers_text is not None:
        n = env.write_text("n-" + name, notifiers_text)
    rc, out, err, dt = run([COLLECTOR_BIN, "--manifest", m, "--notifiers", n, "--db", NO_DB,
                            "--api-port", "0", "--bind", "tcp://127.0.0.1:%d" % free_port(),
                            "--insecure-plaintext"])
    log("%s: rc=%d in %.3f s: %s" % (name, rc, dt, (err or out).strip()[:300]))
    return rc, out + err, m, n


def expect_position(text, path, field, line=None):
    """The message names path:line:col and the field; returns (line, col)."""
    m = re.search(re.escape(path) + r":(\d+):(\d+): ([^:\s]+)", text)
    check(m is not None, "message names %s:LINE:COL (%r)" % (os.path.basename(path),
                                                            text.strip()[:300]))
    got_line, col, fld = int(m.group(1)), int(m.group(2)), m.group(3)
    check(col >= 1, "column %d >= 1" % col)
    if line is not None:
        check(got_line == line, "line %d == %d" % (got_line, line))
    if field is not None:
        check(field in fld, "field %r named (%r)" % (field, fld))
    return got_line, col


ASSET_OK = ('    {"id": "a", "assetType": "http", "name": "A",\n'
            '     "address": "http://127.0.0.1:1/",\n')


def main(env):
    # --help / --version / unknown flag
    for name, b in BINS:
        rc, out, err, _ = run([b, "--help"])
        check(rc == 0, "%s --help exits 0 (rc=%d)" % (name, rc))
        check(re.search(r"usage", out + err, re.I) and "--" in out + err,
              "%s --help prints a usage with options" % name)
        if b != KEYGEN_BIN:
            rc, out, err, _ = run([b, "--version"])
            check(rc == 0, "%s --version exits 0 (rc=%d)" % (name, rc))
            check(re.search(r"\d+\.\d+\.\d+", out + err), "%s --version prints a version "
                  "(%r)" % (name, (out + err).strip()[:80]))
        rc, out, err, _ = run([b, "--no-such-flag"])
        check(rc == 2, "%s --no-such-flag exits 2 (rc=%d)" % (name, rc))
        check("no-such-flag" in err, "%s names the bad flag on stderr (%r)"
              % (name, err.strip()[:200]))
        check(out.strip() == "" or re.search(r"usage", err, re.I),
              "%s: the error goes to stderr" % name)
    # a numeric flag out of range names the flag and the accepted range
    rc, out, err, _ = run([COLLECTOR_BIN, "--manifest", "m", "--notifiers", "n", "--db", NO_DB,
                           "--metrics-max-series", "5"])
    log("--metrics-max-series 5: rc=%d %s" % (rc, err.strip()[:200]))
    check(rc == 2 and "--metrics-max-series" in err and "1000..10000000" in err,
          "--metrics-max-series 5 is refused with the range (rc=%d, %r)" % (rc, err.strip()))

    certificates(env)

    # JSON syntax error: a trailing comma on line 5
    rc, text, m, _ = collector_with(env, "syntax.json",
                                    '{\n  "assets": [\n' + ASSET_OK +
                                    '     "intervalSeconds": 60, "timeoutSeconds": 5,}\n'
                                    '  ]\n}\n')
    check(rc == 1, "JSON syntax error -> exit 1 (rc=%d)" % rc)
    expect_position(text, m, None, line=5)

    # a wrongly typed field, alone on line 6
    rc, text, m, _ = collector_with(env, "typed.json",
                                    '{\n  "assets": [\n' + ASSET_OK +
                                    '     "timeoutSeconds": 5,\n'
                                    '     "intervalSeconds": "60"}\n'
                                    '  ]\n}\n')
    check(rc == 1, "intervalSeconds \"60\" -> exit 1 (rc=%d)" % rc)
    expect_position(text, m, "intervalSeconds", line=6)
    check("assets[0].intervalSeconds" in text, "the field's path is assets[0].intervalSeconds")

    # an unknown field is an error, not ignored
    rc, text, m, _ = collector_with(env, "unknown.json",
                                    '{\n  "assets": [\n' + ASSET_OK +
                                    '     "intervalSeconds": 60, "timeoutSeconds": 5,\n'
                                    '     "intervalSecs": 60}\n'
                                    '  ]\n}\n')
    check(rc == 1, "unknown field -> exit 1 (rc=%d)" % rc)
    expect_position(text, m, None, line=6)
    check("intervalSecs" in text, "the unknown field is named")

    # notifiers.json: a policy naming a notifier that does not exist
    good = open(os.path.join(SOURCE_DIR, "config", "manifest.json")).read()
    rc, text, _, n = collector_with(env, "good.json", good,
                                    '{"notifiers": {"s": {"type": "slack", '
                                    '"webhookUrl": "http://127.0.0.1:1/"}},\n'
                                    ' "notificationPolicy": {"onDown": ["nope"]}}\n')
    check(rc == 1, "notifiers.json naming an unknown notifier -> exit 1 (rc=%d)" % rc)
    expect_position(text, n, "onDown", line=2)

    # the shipped sample config starts for real against a real database
    pg = env.start_pg()
    api_port = free_port()
    col = env.proc("collector-sample", [
        COLLECTOR_BIN, "--manifest", os.path.join(SOURCE_DIR, "config", "manifest.json"),
        "--notifiers", os.path.join(SOURCE_DIR, "config", "notifiers.json"), "--db",
        pg.conninfo, "--bind", "tcp://127.0.0.1:%d" % free_port(), "--api-port",
        str(api_port), "--api-bind", "127.0.0.1", "--migrations",
        os.path.join(SOURCE_DIR, "migrations")] + env.secure_collector_args()).start()
    col.api = "http://127.0.0.1:%d" % api_port
    env.wait_healthy(col)
    st, body = http_get("http://127.0.0.1:%d/api/assets" % api_port)
    check(st == 200 and "demo-healthy" in body, "the sample assets are served by /api/assets")
    t0 = time.monotonic()
    rc = col.stop(timeout=10)
    measure("collector SIGTERM -> exit", time.monotonic() - t0)
    check(rc == 0, "the collector exits 0 on SIGTERM (rc=%s)" % rc)


def certificates(env):
    """statusd-keygen and the certificate flags: files and modes, no silent overwrite, and
    every missing or wrong certificate refused with a message that says what to do."""
    d = env.path("kg")
    os.makedirs(d)
    rc, out, err, _ = run([KEYGEN_BIN, "--dir", d, "--region", "eu-west", "edge-1"])
    check(rc == 0, "statusd-keygen exits 0 (rc=%d %s)" % (rc, err.strip()))
    pub, sec = os.path.join(d, "edge-1.cert"), os.path.join(d, "edge-1.cert_secret")
    modes = (os.stat(pub).st_mode & 0o777, os.stat(sec).st_mode & 0o777)
    log("keygen wrote %s (%o) and %s (%o)" % (pub, modes[0], sec, modes[1]))
    check(modes == (0o644, 0o600), "public 0644, secret 0600 (%o, %o)" % modes)
    text = open(pub).read()
    check('name = "edge-1"' in text and 'region = "eu-west"' in text and
          "secret-key" not in text, "the public certificate carries name and region only")
    check("secret-key" in open(sec).read(), "the secret certificate holds the secret key")
    rc, _, err, _ = run([KEYGEN_BIN, "--dir", d, "edge-1"])
    check(rc == 1 and "--force" in err, "an existing pair is not overwritten (rc=%d %r)"
          % (rc, err.strip()))
    rc, _, err, _ = run([KEYGEN_BIN, "--dir", d, "bad name"])
    check(rc == 2, "a name with a space is a usage error (rc=%d %r)" % (rc, err.strip()))
    run([KEYGEN_BIN, "--dir", d, "collector"])

    base = [COLLECTOR_BIN, "--manifest", "m", "--notifiers", "n", "--db", NO_DB]
    rc, _, err, _ = run(base)
    log("collector without certificates: rc=%d %s" % (rc, err.strip()[:300]))
    check(rc == 2 and "--cert" in err and "--agents-dir" in err and "statusd-keygen" in err,
          "a collector without certificates says how to make them (rc=%d)" % rc)
    rc, _, err, _ = run(base + ["--cert", pub, "--agents-dir", d])
    check(rc == 1 and "edge-1.cert" in err and "secret" in err,
          "a public certificate given as --cert is refused naming the file (rc=%d %r)"
          % (rc, err.strip()))
    rc, _, err, _ = run(base + ["--cert", sec, "--agents-dir", os.path.join(d, "nope")])
    check(rc == 1 and "--agents-dir" in err, "a missing agents dir is refused (rc=%d %r)"
          % (rc, err.strip()))
    rc, _, err, _ = run(base + ["--insecure-plaintext", "--cert", sec, "--agents-dir", d])
    check(rc == 2, "--insecure-plaintext with certificates is a usage error (rc=%d)" % rc)
    rc, _, err, _ = run(base + ["--insecure-plaintext", "--max-frame-bytes", "10"])
    check(rc == 2 and "--max-frame-bytes" in err, "--max-frame-bytes 10 is refused (%r)"
          % err.strip())

    agent = [AGENT_BIN, "--collector", "tcp://127.0.0.1:1"]
    rc, _, err, _ = run(agent + ["--id", "x", "--region", "r"])
    log("agent without certificates: rc=%d %s" % (rc, err.strip()[:300]))
    check(rc == 2 and "--cert" in err and "--collector-cert" in err,
          "an agent without certificates says what it needs (rc=%d)" % rc)
    cpub = os.path.join(d, "collector.cert")
    rc, _, err, _ = run(agent + ["--cert", sec, "--collector-cert", cpub, "--id", "other"])
    check(rc == 2 and "edge-1" in err, "an --id the certificate does not name is refused "
          "(rc=%d %r)" % (rc, err.strip()))
    rc, _, err, _ = run(agent + ["--cert", sec, "--collector-cert", cpub, "--region", "us"])
    check(rc == 2 and "eu-west" in err, "a --region the certificate does not allow is "
          "refused (rc=%d %r)" % (rc, err.strip()))
    rc, _, err, _ = run(agent + ["--cert", pub, "--collector-cert", cpub])
    check(rc == 1 and "edge-1.cert" in err, "a public certificate as --cert is refused "
          "(rc=%d %r)" % (rc, err.strip()))


if __name__ == "__main__":
    run_test(main)
