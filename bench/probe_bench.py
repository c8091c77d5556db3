#!/usr/bin/python3
"""probe_bench: statusd-agent vs Prometheus blackbox_exporter on the same HTTP workload.

    bench/probe_bench.py [--rates 200,1000] [--interval 2] [--duration 20] [--rss-assets 10000]

Against one local nginx (Debian's, 1 worker, access log "$msec $request_uri $status"):

1. For each rate R: R x interval HTTP assets, each GET /bench?a=ID every `interval` seconds.
   - agent: a real collector (private PostgreSQL) assigns them to one real statusd-agent,
     whose scheduler runs asset ID at the wall-clock instants t with
     t mod interval == phase(ID) (the collector's FNV-1a phase offset).
   - blackbox_exporter: a Prometheus-style scheduler in this script asks
     /probe?module=bench&target=URL for the same IDs at the same instants (64 worker threads,
     keep-alive connections to the exporter, like Prometheus's scrapers).
   After a warm-up of one interval, a window of `duration` seconds is measured: probes
   completed (requests nginx logged in the window), the prober's CPU seconds (utime+stime from
   /proc; the collector, the script and nginx are not counted), peak RSS (VmHWM) and the
   lateness of each probe's request at nginx against its scheduled instant (p50/p99/max;
   nginx's $msec has millisecond resolution and includes the TCP connect).
2. RSS of the agent with `--rss-assets` HTTP assets assigned at a 3600 s interval.

Prints a side-by-side table and a Markdown version for bench/RESULTS.md. Needs root only for
nothing; needs nginx, prometheus-blackbox-exporter, postgresql and the built binaries
(STATUSD_BUILD_DIR, default build/). Takes about (interval + duration + 10) x 2 x rates + 30 s.
"""
import argparse
import heapq
import http.client
import os
import queue
import re
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
from harness import TestEnv, free_port, http_get, wait_for  # noqa: E402
from targets.nginx import Nginx  # noqa: E402

BLACKBOX_BIN = "/usr/bin/prometheus-blackbox-exporter"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NOTIFIERS = {"notifiers": {}, "notificationPolicy": {"onDown": [], "onRecovery": []}}


def phase_ms(asset_id, interval_ms):
    """collector/assign.c assign_phase_offset: FNV-1a 64 of the id, mod the interval."""
    h = 14695981039346656037
    for b in asset_id.encode():
        h ^= b
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h % interval_ms


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK   # utime, stime


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def nginx_entries(path, prefix, t0, t1):
    """(unix seconds, asset id) of the /bench requests of ids starting with prefix in [t0,t1)."""
    out = []
    rx = re.compile(r"^(\d+\.\d+) /bench\?a=(%s\S*) " % re.escape(prefix))
    with open(path) as f:
        for line in f:
            m = rx.match(line)
            if m:
                t = float(m.group(1))
                if t0 <= t < t1:
                    out.append((t, m.group(2)))
    return out


def lateness_ms(entries, interval_ms):
    late = []
    for t, aid in entries:
        ms = int(round(t * 1000))
        late.append((ms - phase_ms(aid, interval_ms)) % interval_ms)
    return late


def summarize(name, entries, cpu, hwm_kb, duration, interval_ms, extra=None):
    late = lateness_ms(entries, interval_ms)
    n = len(entries)
    r = {"prober": name, "completed": n, "per_s": n / duration, "cpu_s": cpu,
         "cpu_per_1000": cpu / n * 1000 if n else float("nan"),
         "probes_per_cpu_s": n / cpu if cpu > 0 else float("inf"),
         "hwm_mb": hwm_kb / 1024.0, "p50": pct(late, 50), "p99": pct(late, 99),
         "max": max(late) if late else float("nan")}
    r.update(extra or {})
    return r


# --- the two probers --------------------------------------------------------------------------

def run_agent(env, pg, ng, rate, interval, duration, tag):
    n = rate * interval
    prefix = "ag%s-" % tag
    assets = [{"id": "%s%d" % (prefix, i), "assetType": "http", "name": "bench %d" % i,
               "address": ng.url("/bench?a=%s%d" % (prefix, i)), "intervalSeconds": interval,
               "timeoutSeconds": interval, "expectedStatusCodes": [200]} for i in range(n)]
    col = env.start_collector(pg, {"assets": assets}, NOTIFIERS,
                              name="collector-" + tag)
    agent = env.start_agent(col, "bench-" + tag, "bench")
    agent.wait_log(r"assignment applied version=\d+ assets=%d\b" % n, 60)
    t_start = time.time() + interval + 1.0
    time.sleep(t_start - time.time())
    cpu0, ccpu0 = cpu_seconds(agent.pid), cpu_seconds(col.pid)
    time.sleep(duration)
    cpu1, ccpu1 = cpu_seconds(agent.pid), cpu_seconds(col.pid)
    hwm = status_kb(agent.pid, "VmHWM")
    t_end = t_start + duration
    time.sleep(1.0)   # let nginx log the window's last requests
    agent.stop()
    col.stop()
    entries = nginx_entries(ng.access_log, prefix, t_start, t_end)
    return summarize("statusd-agent", entries, cpu1 - cpu0, hwm, duration, interval * 1000,
                     {"collector_cpu_s": ccpu1 - ccpu0})


class PromScheduler:
    """Prometheus-style driver: each target at its own phase every interval, dispatched to a
    pool of workers with keep-alive connections to blackbox_exporter."""

    def __init__(self, bb_port, ids_urls, interval, workers=64):
        self.bb_port = bb_port
        self.targets = ids_urls
        self.interval_ms = interval * 1000
        self.q = queue.Queue()
        self.stop_at = None
        self.dispatch_late = []
        self.ok = self.failed = 0
        self.lock = threading.Lock()
        self.workers = [threading.Thread(target=self._worker, daemon=True)
                        for _ in range(workers)]

    def _worker(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.bb_port, timeout=30)
        while True:
            item = self.q.get()
            if item is None:
                break
            due, path = item
            late = time.time() * 1000 - due
            try:
                conn.request("GET", path)
                body = conn.getresponse().read()
                ok = b"\nprobe_success 1" in body
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.bb_port, timeout=30)
                ok = False
            with self.lock:
                self.dispatch_late.append((due, late))
                if ok:
                    self.ok += 1
                else:
                    self.failed += 1
        conn.close()

    def run(self, until):
        for w in self.workers:
            w.start()
        now = time.time() * 1000
        heap = []
        for aid, url in self.targets:
            ph = phase_ms(aid, self.interval_ms)
            due = now - (now % self.interval_ms) + ph
            if due < now:
                due += self.interval_ms
            path = "/probe?" + urllib.parse.urlencode({"module": "bench", "target": url})
            heap.append((due, path))
        heapq.heapify(heap)
        while heap:
            due, path = heap[0]
            if due >= until * 1000:
                break
            d = due / 1000.0 - time.time()
            if d > 0:
                time.sleep(d)
            heapq.heapreplace(heap, (due + self.interval_ms, path))
            self.q.put((due, path))
        for _ in self.workers:
            self.q.put(None)
        for w in self.workers:
            w.join(30)


def run_blackbox(env, ng, rate, interval, duration, tag):
    n = rate * interval
    prefix = "bb%s-" % tag
    cfg = env.write_text("blackbox-%s.yml" % tag, (
        "modules:\n  bench:\n    prober: http\n    timeout: %ds\n    http:\n"
        "      preferred_ip_protocol: ip4\n      ip_protocol_fallback: false\n"
        "      valid_status_codes: [200]\n") % interval)
    port = free_port()
    bb = env.proc("blackbox-" + tag, [BLACKBOX_BIN, "--config.file=" + cfg,
                                      "--web.listen-address=127.0.0.1:%d" % port,
                                      "--log.level=warn"]).start()
    wait_for(lambda: http_get("http://127.0.0.1:%d/-/healthy" % port, 1)[0] == 200, 15,
             "blackbox_exporter up", procs=[bb])
    ids = [("%s%d" % (prefix, i), ng.url("/bench?a=%s%d" % (prefix, i))) for i in range(n)]
    sch = PromScheduler(port, ids, interval)
    t_start = time.time() + interval + 1.0
    t_end = t_start + duration
    cpu = {}

    def sample():
        time.sleep(t_start - time.time())
        cpu[0] = cpu_seconds(bb.pid)
        time.sleep(t_end - time.time())
        cpu[1] = cpu_seconds(bb.pid)
    s = threading.Thread(target=sample)
    s.start()
    sch.run(until=t_end + 0.5)
    s.join()
    hwm = status_kb(bb.pid, "VmHWM")
    time.sleep(1.0)
    bb.stop()
    entries = nginx_entries(ng.access_log, prefix, t_start, t_end)
    dl = [late for due, late in sch.dispatch_late if t_start * 1000 <= due < t_end * 1000]
    return summarize("blackbox_exporter", entries, cpu[1] - cpu[0], hwm, duration,
                     interval * 1000, {"driver_p99": pct(dl, 99), "bb_failed": sch.failed})


def run_rss(env, pg, ng, n):
    assets = [{"id": "rss-%d" % i, "assetType": "http", "name": "rss %d" % i,
               "address": ng.url("/bench?a=rss-%d" % i), "intervalSeconds": 3600,
               "timeoutSeconds": 10} for i in range(n)]
    col = env.start_collector(pg, {"assets": assets}, NOTIFIERS, name="collector-rss")
    agent = env.start_agent(col, "bench-rss", "bench")
    t0 = time.monotonic()
    agent.wait_log(r"assignment applied version=\d+ assets=%d\b" % n, 120)
    applied = time.monotonic() - t0
    time.sleep(5.0)   # a few of the first runs (n / 3600 per second) happen meanwhile
    rss, hwm = status_kb(agent.pid, "VmRSS"), status_kb(agent.pid, "VmHWM")
    agent.stop()
    col.stop()
    return {"assets": n, "rss_mb": rss / 1024.0, "hwm_mb": hwm / 1024.0, "applied_s": applied}


# --- output -----------------------------------------------------------------------------------

ROWS = [("probes scheduled per second", None, "{:.0f}"),
        ("probes completed per second", "per_s", "{:.1f}"),
        ("CPU seconds (window)", "cpu_s", "{:.2f}"),
        ("CPU seconds per 1,000 probes", "cpu_per_1000", "{:.3f}"),
        ("probes per CPU-second", "probes_per_cpu_s", "{:.0f}"),
        ("peak RSS (VmHWM), MB", "hwm_mb", "{:.1f}"),
        ("start lateness p50, ms", "p50", "{:.0f}"),
        ("start lateness p99, ms", "p99", "{:.0f}"),
        ("start lateness max, ms", "max", "{:.0f}")]


def table(rate, a, b, md):
    lines = []
    if md:
        lines += ["| %d probes/s scheduled | statusd-agent | blackbox_exporter |" % rate,
                  "|---|---:|---:|"]
    else:
        lines.append("%-32s %16s %18s" % ("%d probes/s scheduled" % rate, "statusd-agent",
                                          "blackbox_exporter"))
    for label, key, fmt in ROWS[1:]:
        va, vb = fmt.format(a[key]), fmt.format(b[key])
        lines.append(("| %s | %s | %s |" if md else "%-32s %16s %18s") % (label, va, vb))
    ratio = a["probes_per_cpu_s"] / b["probes_per_cpu_s"] if b["probes_per_cpu_s"] else 0
    extra = [("agent / blackbox probes per CPU-second", "%.1fx" % ratio, ""),
             ("collector CPU s (not counted above)", "%.2f" % a["collector_cpu_s"], ""),
             ("driver dispatch lateness p99, ms", "", "%.0f" % b["driver_p99"]),
             ("blackbox probes that failed", "", "%d" % b["bb_failed"])]
    for label, va, vb in extra:
        lines.append(("| %s | %s | %s |" if md else "%-32s %16s %18s") % (label, va, vb))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rates", default="200,1000")
    ap.add_argument("--interval", type=int, default=2)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--rss-assets", type=int, default=10000)
    ap.add_argument("--only", choices=["agent", "blackbox", "rss"], action="append")
    args = ap.parse_args()
    only = set(args.only or ["agent", "blackbox", "rss"])
    env = TestEnv("bench")
    results = []
    try:
        ng = Nginx(env.path("nginx"), access_log=True).start(env)
        pg = env.start_pg() if only & {"agent", "rss"} else None
        for rate in [int(x) for x in args.rates.split(",") if x]:
            a = b = None
            if "agent" in only:
                print("== agent at %d probes/s ..." % rate, flush=True)
                a = run_agent(env, pg, ng, rate, args.interval, args.duration, "%d" % rate)
                print(a, flush=True)
            if "blackbox" in only:
                print("== blackbox_exporter at %d probes/s ..." % rate, flush=True)
                b = run_blackbox(env, ng, rate, args.interval, args.duration, "%d" % rate)
                print(b, flush=True)
            results.append((rate, a, b))
        rss = run_rss(env, pg, ng, args.rss_assets) if "rss" in only else None
    finally:
        env.cleanup()
    print()
    for md in (False, True):
        for rate, a, b in results:
            if a and b:
                print(table(rate, a, b, md))
                print()
        if rss:
            fmt = ("| agent with %d HTTP assets assigned | RSS %.1f MB | peak %.1f MB |" if md
                   else "agent with %d HTTP assets: RSS %.1f MB, peak RSS %.1f MB")
            print(fmt % (rss["assets"], rss["rss_mb"], rss["hwm_mb"]))
            print()


if __name__ == "__main__":
    main()
