"""test_dashboards: every panel of every provisioned Grafana dashboard runs for real.

A real collector (private PostgreSQL) with two real agents (eu-west, us-east) probes an HTTP
and a self-signed HTTPS target; Debian's prometheus (free port, no Docker) scrapes the
collector every second and loads deploy/prometheus/statusd.rules.yml. Then, for each dashboard
in deploy/grafana/dashboards/: template variables are resolved (query variables through
Prometheus' label API, every value tried) and Grafana's macros substituted; every PromQL target
is run against Prometheus and every SQL target (PostgreSQL data source: probe phases,
certificate expiry) against the collector's database. The test fails naming the dashboard,
panel and query that is invalid, or that returns no series for every value of the variables.
Panels must use the data source uids provisioned in deploy/grafana/provisioning/datasources.
"""
import glob
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (SOURCE_DIR, TestEnv, free_port, http_get_json, log,  # noqa: E402
                     measure, run_test, wait_for)

DASH_DIR = os.path.join(SOURCE_DIR, "deploy", "grafana", "dashboards")
DS_FILE = os.path.join(SOURCE_DIR, "deploy", "grafana", "provisioning", "datasources",
                       "statusd.yml")
RULES = os.path.join(SOURCE_DIR, "deploy", "prometheus", "statusd.rules.yml")
MACROS = {"$__rate_interval": "15s", "$__interval": "5s", "$__range": "5m",
          "${__rate_interval}": "15s", "${__interval}": "5s", "${__range}": "5m"}


class HttpsTarget:
    """A tiny HTTPS server with a self-signed certificate (openssl req), in a thread."""

    def __init__(self, env):
        self.cert, self.key = env.path("tls.crt"), env.path("tls.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "30", "-subj", "/CN=localhost", "-keyout", self.key, "-out", self.cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass
        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def provisioned_uids():
    with open(DS_FILE) as f:
        return set(re.findall(r"^\s*uid:\s*(\S+)", f.read(), re.M))


def substitute(text, values):
    for k, v in MACROS.items():
        text = text.replace(k, v)
    for name, val in values.items():
        text = text.replace("${%s}" % name, val).replace("$" + name, val)
    return text


def sql_macros(sql):
    return re.sub(r"\$__timeFilter\(([^)]+)\)",
                  lambda m: "%s BETWEEN now() - interval '6 hours' AND now()" % m.group(1), sql)


class Checker:
    def __init__(self, prom_url, pg):
        self.prom, self.pg = prom_url, pg

    def promql(self, expr):
        """(ok, n_series, error)."""
        url = self.prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            body = http_get_json(url, expect=None)
        except Exception as e:  # noqa: BLE001
            return False, 0, str(e)
        if not isinstance(body, dict) or body.get("status") != "success":
            return False, 0, (body or {}).get("error", repr(body)) if isinstance(body, dict) \
                else repr(body)
        res = body["data"]["result"]
        return True, len(res) if isinstance(res, list) else 1, None

    def sql(self, sql):
        r = subprocess.run(["psql", self.pg.conninfo, "-X", "-At", "-v", "ON_ERROR_STOP=1",
                            "-c", sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            return False, 0, r.stderr.decode(errors="replace").strip()
        return True, len([x for x in r.stdout.decode().splitlines() if x]), None

    def variable_values(self, var):
        q = var.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.match(r"^label_values\((.+),\s*(\w+)\)$", (q or "").strip())
        if not m:
            raise AssertionError("variable $%s: unsupported query %r" % (var["name"], q))
        url = "%s/api/v1/label/%s/values?%s" % (self.prom, m.group(2),
                                                 urllib.parse.urlencode({"match[]": m.group(1)}))
        vals = http_get_json(url)["data"]
        if not vals:
            raise AssertionError("variable $%s: %r has no values" % (var["name"], q))
        return vals


def check_dashboard(path, chk, uids):
    with open(path) as f:
        d = json.load(f)
    title = d.get("title", os.path.basename(path))
    variables = d.get("templating", {}).get("list", [])
    combos = [{}]
    for v in variables:
        vals = chk.variable_values(v)
        log("dashboard %r: $%s = %s" % (title, v["name"], vals))
        combos = [dict(c, **{v["name"]: x}) for c in combos for x in vals]
    panels = []
    for p in d.get("panels", []):
        panels += p.get("panels", []) if p.get("type") == "row" else [p]
    errors, checked = [], 0
    # what Grafana's file provisioning needs: a uid, a title, unique panel ids with a layout
    if not d.get("uid") or not d.get("title"):
        errors.append("%s: dashboard without uid or title" % path)
    ids = [p.get("id") for p in panels]
    if len(set(ids)) != len(ids) or None in ids:
        errors.append("dashboard %r: panel ids missing or not unique: %r" % (title, ids))
    for p in panels:
        if not p.get("type") or not p.get("gridPos") or not p.get("targets"):
            errors.append("dashboard %r panel %r: needs type, gridPos and targets"
                          % (title, p.get("title")))
    for p in panels:
        pds = (p.get("datasource") or {}).get("uid")
        for t in p.get("targets", []):
            ds = (t.get("datasource") or {}).get("uid") or pds
            where = "dashboard %r panel %r query %s" % (title, p.get("title"), t.get("refId"))
            if ds not in uids:
                errors.append("%s: data source uid %r is not provisioned (%s)"
                              % (where, ds, sorted(uids)))
                continue
            total = 0
            for values in combos:
                if "expr" in t:
                    q = substitute(t["expr"], values)
                    ok, n, err = chk.promql(q)
                elif "rawSql" in t:
                    q = sql_macros(substitute(t["rawSql"], values))
                    ok, n, err = chk.sql(q)
                else:
                    errors.append("%s: neither expr nor rawSql" % where)
                    break
                if not ok:
                    errors.append("%s is invalid (%s): %s\n    %s" % (where, values, err, q))
                    break
                total += n
            else:
                checked += 1
                log("%s: %d series/rows over %d variable value(s)" % (where, total, len(combos)))
                if total == 0:
                    errors.append("%s returns no series for any value of %s"
                                  % (where, [v["name"] for v in variables] or "(no variables)"))
    return checked, errors


def main(env):
    if not shutil.which("prometheus"):
        raise AssertionError("prometheus not found: install Debian's prometheus package")
    r = subprocess.run(["promtool", "check", "rules", RULES], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise AssertionError("promtool check rules: %s" % r.stdout.decode())
    pg = env.start_pg()
    http_t = env.target()
    https_t = HttpsTarget(env)
    try:
        manifest = {"assets": [
            {"id": "dash-http", "assetType": "http", "name": "plain HTTP",
             "address": http_t.url("/health"), "intervalSeconds": 1, "timeoutSeconds": 1},
            {"id": "dash-https", "assetType": "http", "name": "self-signed HTTPS",
             "address": "https://localhost:%d/" % https_t.port, "intervalSeconds": 1,
             "timeoutSeconds": 1, "tlsVerify": False},
        ]}
        notifiers = {"notifiers": {"hook": {"type": "slack",
                                            "webhookUrl": "http://127.0.0.1:9/none"}}}
        col = env.start_collector(pg, manifest, notifiers)
        env.start_agent(col, "dash-eu", "eu-west")
        env.start_agent(col, "dash-us", "us-east")

        prom_port = free_port()
        cfg = env.write_text("prometheus.yml", (
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "rule_files:\n  - %s\n"
            "scrape_configs:\n  - job_name: statusd-collector\n    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n") % (RULES, col.api_port))
        prom = env.proc("prometheus", [
            "prometheus", "--config.file=" + cfg, "--storage.tsdb.path=" + env.path("tsdb"),
            "--web.listen-address=127.0.0.1:%d" % prom_port, "--log.level=warn"]).start()
        prom_url = "http://127.0.0.1:%d" % prom_port
        chk = Checker(prom_url, pg)

        t0 = time.monotonic()

        def ready():
            ok, n, _ = chk.promql('count by (region) (statusd_probe_success{asset="dash-https"})')
            ok2, n2, _ = chk.promql("count_over_time(statusd_results_received_total[15s]) > 3")
            return ok and n >= 2 and ok2 and n2 >= 1
        wait_for(ready, 60, "Prometheus series from both regions (and 4 scrapes)",
                 interval=0.5, procs=[prom, col])
        ok, n, _ = chk.sql("SELECT 1 FROM probe_events WHERE cert_expiry IS NOT NULL "
                           "AND phases IS NOT NULL LIMIT 1")
        if not (ok and n):
            raise AssertionError("no HTTPS result with phases and certificate expiry stored")
        measure("stack ready (collector, 2 agents, prometheus scraping)", time.monotonic() - t0)

        # the checker itself must be able to fail
        if chk.promql("rate(")[0] or chk.promql("statusd_no_such_metric")[1] != 0 \
                or chk.sql("SELECT nope FROM nowhere")[0]:
            raise AssertionError("the query checker does not detect bad queries")

        uids = provisioned_uids()
        files = sorted(glob.glob(os.path.join(DASH_DIR, "*.json")))
        if len(files) < 2:
            raise AssertionError("expected the overview and asset dashboards in %s" % DASH_DIR)
        t0 = time.monotonic()
        total, errors = 0, []
        for path in files:
            n, errs = check_dashboard(path, chk, uids)
            total += n
            errors += errs
        measure("%d queries of %d dashboards checked" % (total, len(files)),
                time.monotonic() - t0)
        if errors:
            raise AssertionError("%d dashboard query problem(s):\n  %s"
                                 % (len(errors), "\n  ".join(errors)))
    finally:
        https_t.stop()


if __name__ == "__main__":
    run_test(main)
