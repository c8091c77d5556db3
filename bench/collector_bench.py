#!/usr/bin/python3
"""collector_bench: the collector's scale benchmark (issue 4, "Scale"). Not a test.

    bench/collector_bench.py [--assets 10000] [--agents 5] [--warmup 10] [--duration 60]
                             [--batch 500] [--window 8] [--rate 0] [--profile SECONDS]

One run: a private PostgreSQL (tests/lib/pgtmp.py), a real statusd-collector (RelWithDebInfo
build; STATUSD_BUILD_DIR, default build/) with --assets http assets pointing at 127.0.0.1:9
(nothing is probed: the agents are simulated) and a Slack channel on a local fake receiver
(tests/lib/fake_webhook.py), and bench/loadgen.c (statusd-loadgen) simulating --agents agents
that each report every asset in turn, pipelined with --window unacked batches per agent.

Measured over --duration seconds after --warmup:
  - results stored per second: rows of probe_events counted at both ends (count(*)), the
    agents' stored high-water marks (sum of agents.last_seq, exact since seqs are
    consecutive) and the through_seq of the Acks the load generator received;
  - CPU seconds (utime+stime from /proc) of the collector, of PostgreSQL (postmaster and its
    backends) and of the load generator; the collector's peak RSS (VmHWM);
  - at warmup + duration/2, asset #0 starts failing in 3 of the 5 agents (--fail-agents):
    the delay from the quorum-forming result (the last of those agents' failureThreshold-th
    failing result, as sent) to the incidents row (polled, and its detected_at) and to the
    Slack request arriving at the fake receiver.
--profile S additionally records `perf record -g` of the collector for S seconds inside the
window and prints where its time goes (this perturbs the figures a little).
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import harness  # noqa: E402
from harness import TestEnv  # noqa: E402
from fake_webhook import FakeWebhook  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
LOADGEN_BIN = os.environ.get("STATUSD_LOADGEN_BIN",
                             os.path.join(os.path.dirname(harness.COLLECTOR_BIN),
                                          "statusd-loadgen"))


def proc_stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # fields after the comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def cpu_s(pid):
    return proc_stat(pid)[1] / CLK_TCK


def pg_cpu_s(pg):
    """CPU of the postmaster, its live children, and its reaped children."""
    with open(os.path.join(pg.dir, "data", "postmaster.pid")) as f:
        pm = int(f.readline())
    _, own, reaped = proc_stat(pm)
    total = own + reaped
    for d in glob.glob("/proc/[0-9]*"):
        try:
            ppid, t, _ = proc_stat(int(d[6:]))
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pm:
            total += t
    return total / CLK_TCK


def pg_backends_cpu(pg):
    """{pid: cpu ticks} of the postmaster's children."""
    with open(os.path.join(pg.dir, "data", "postmaster.pid")) as f:
        pm = int(f.readline())
    out = {}
    for d in glob.glob("/proc/[0-9]*"):
        try:
            ppid, t, _ = proc_stat(int(d[6:]))
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pm:
            out[int(d[6:])] = t
    return out


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class Loadgen:
    """statusd-loadgen's stdout, parsed by a thread: progress samples, fail lines, summary."""

    def __init__(self, argv, logpath):
        self.progress = []     # (wall_s, sent, acked)
        self.fails = []        # dicts
        self.ready = None
        self.done = None
        self.err = open(logpath, "w")
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            kv = dict(re.findall(r"(\w+)=(\S+)", line))
            if line.startswith("progress"):
                self.progress.append((int(kv["wall_ms"]) / 1000.0, int(kv["sent"]),
                                      int(kv["acked"])))
            elif line.startswith("fail"):
                self.fails.append({"agent": kv["agent"], "nth": int(kv["nth"]),
                                   "seq": int(kv["seq"]), "t": int(kv["sent_wall_ms"]) / 1e3})
            elif line.startswith("ready"):
                self.ready = int(kv["wall_ms"]) / 1000.0
            elif line.startswith("done"):
                self.done = json.loads(line[5:])

    def acked_at(self, t):
        """Acked results at wall time t, interpolated between progress samples."""
        pts = self.progress
        for (t0, _, a0), (t1, _, a1) in zip(pts, pts[1:]):
            if t0 <= t <= t1:
                return a0 + (a1 - a0) * (t - t0) / (t1 - t0) if t1 > t0 else a1
        return pts[-1][2] if pts else 0

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.t.join(5)
        self.err.close()


def count_rows(pg):
    t0 = time.time()
    n = int(pg.scalar("SELECT count(*) FROM probe_events"))
    t1 = time.time()
    return n, (t0 + t1) / 2, t1 - t0


def hwm_sum(pg):
    t0 = time.time()
    v = int(pg.scalar("SELECT coalesce(sum(last_seq), 0) FROM agents WHERE id LIKE 'loadgen-%'"))
    return v, (t0 + time.time()) / 2


def sample(pg, col, lg):
    rows, t_rows, dt_rows = count_rows(pg)
    hwm, t_hwm = hwm_sum(pg)
    return {"t": time.time(), "col_cpu": cpu_s(col.pid), "threads": thread_cpu(col.pid),
            "backends": pg_backends_cpu(pg), "pg_cpu": pg_cpu_s(pg),
            "lg_cpu": cpu_s(lg.p.pid), "rows": rows, "t_rows": t_rows, "dt_rows": dt_rows,
            "hwm": hwm, "t_hwm": t_hwm}


def thread_cpu(pid):
    """{tid: (comm, cpu ticks)} of every thread of pid."""
    out = {}
    for d in glob.glob("/proc/%d/task/[0-9]*" % pid):
        try:
            with open(d + "/comm") as f:
                comm = f.read().strip()
            out[int(d.rsplit("/", 1)[1])] = (comm, proc_stat_path(d + "/stat"))
        except (OSError, ValueError):
            continue
    return out


def proc_stat_path(path):
    with open(path) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def profile(pid, seconds, data):
    """perf record -a -g for `seconds`: where the CPU goes, whole machine and collector."""
    subprocess.run(["perf", "record", "-a", "-g", "-F", "499", "-o", data, "--",
                    "sleep", str(seconds)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    out = {}
    for name, args in (
            ("machine, by process", ["--sort", "comm", "--no-children"]),
            ("collector, by thread", ["--pid", str(pid), "--sort", "pid"]),
            ("collector, by thread and symbol", ["--pid", str(pid), "--sort", "pid,dso,sym"]),
            ("postgres, by symbol", ["--comm", "postgres", "--sort", "dso,sym"])):
        r = subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none",
                            "--no-children", "--percentage", "relative",
                            "--percent-limit", "1.2"] + args,
                           capture_output=True, text=True, check=False)
        out[name] = "\n".join(line for line in r.stdout.splitlines()[:40]
                              if line.strip() and not line.startswith("#"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--assets", type=int, default=10000)
    ap.add_argument("--agents", type=int, default=5)
    ap.add_argument("--fail-agents", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--rate", type=float, default=0.0, help="total results/s cap (0: none)")
    ap.add_argument("--phases", type=int, default=4,
                    help="phases per successful result (0-4; an http probe has 4)")
    ap.add_argument("--interval", type=int, default=30, help="assets' intervalSeconds")
    ap.add_argument("--profile", type=float, default=0.0,
                    help="perf record the collector for this many seconds in the window")
    ap.add_argument("--max-series", type=int, default=0,
                    help="collector --metrics-max-series (0: its default, 100,000)")
    ap.add_argument("--durable", action="store_true",
                    help="PostgreSQL with fsync, synchronous_commit and full_page_writes on "
                         "(default: off, as in the tests)")
    ap.add_argument("--perf-data", help="keep perf.data at this path")
    ap.add_argument("--transport", choices=("curve", "plain"), default="curve",
                    help="agents' transport: CURVE as deployed (default) or plain text")
    args = ap.parse_args()
    for b in (harness.COLLECTOR_BIN, LOADGEN_BIN):
        if not os.access(b, os.X_OK):
            sys.exit("binary not found: %s (build statusd-collector and statusd-loadgen)" % b)

    env = TestEnv("collector-bench")
    prefix = "scale-"
    fail_asset = prefix + "0"
    res = {}
    try:
        if args.durable:
            pg = harness.PgCluster(env.path("pg"), durable=True)
            env.pgs.append(pg)
            pg.start()
        else:
            pg = env.start_pg()
        hook = FakeWebhook(log_path=env.path("hook.jsonl")).start()
        env.servers.append(hook)
        assets = [{"id": "%s%d" % (prefix, i), "assetType": "http", "name": "scale %d" % i,
                   "address": "http://127.0.0.1:9/a/%d" % i, "intervalSeconds": args.interval,
                   "timeoutSeconds": 5} for i in range(args.assets)]
        notifiers = {"notifiers": {"slack": {"type": "slack",
                                             "webhookUrl": hook.url("/services/T/B/bench")}},
                     "notificationPolicy": {"onDown": ["slack"], "onRecovery": ["slack"],
                                            "throttleSeconds": 0}}
        t0 = time.monotonic()
        col = env.start_collector(pg, {"assets": assets}, notifiers, heartbeat_ms=1000,
                                  secure=args.transport == "curve",
                                  extra=["--log-level", "warn"] + (
                                      ["--metrics-max-series", str(args.max_series)]
                                      if args.max_series else []))
        res["collector_start_s"] = time.monotonic() - t0
        lg_argv = [LOADGEN_BIN, "--collector", col.endpoint, "--agents", str(args.agents),
                   "--assets", str(args.assets), "--prefix", prefix, "--batch", str(args.batch),
                   "--window", str(args.window), "--rate", str(args.rate),
                   "--phases", str(args.phases),
                   "--duration", str(args.warmup + args.duration + 2),
                   "--fail-asset", fail_asset, "--fail-agents", str(args.fail_agents)]
        if args.transport == "curve":
            lg_argv += ["--agents-dir", env.agents_dir(),
                        "--collector-cert", env.collector_cert()[0]]
        res["transport"] = args.transport
        # the failure starts in the middle of the window (Hellos take a second or two)
        fail_at_ms = int((time.time() + 2 + args.warmup + args.duration / 2) * 1000)
        lg_argv += ["--fail-at-ms", str(fail_at_ms)]
        lg = Loadgen(lg_argv, env.path("log", "loadgen.log"))
        harness.wait_for(lambda: lg.ready is not None, 30, "load generator ready",
                         procs=[col])
        print("loadgen ready; warm-up %.0f s" % args.warmup, flush=True)
        time.sleep(max(0.0, lg.ready + args.warmup - time.time()))
        s0 = sample(pg, col, lg)
        print("window start: rows=%d hwm_sum=%d" % (s0["rows"], s0["hwm"]), flush=True)

        # the failure: poll the incident row and the receiver while the load goes on
        perf_out = None
        if args.profile > 0:
            def prof():
                nonlocal perf_out
                perf_out = profile(col.pid, args.profile,
                                   args.perf_data or env.path("perf.data"))
            pt = threading.Thread(target=prof)
            pt.start()
        else:
            pt = None
        harness.wait_for(lambda: time.time() >= fail_at_ms / 1000.0, args.duration, "fail time")
        t_inc = None
        inc = None
        deadline = time.time() + 30
        while time.time() < deadline:
            r = pg.query("SELECT extract(epoch FROM detected_at), extract(epoch FROM started_at)"
                         " FROM incidents WHERE asset_id = '%s'" % fail_asset)
            if r:
                t_inc = time.time()
                inc = (float(r[0][0]), float(r[0][1]))
                break
            time.sleep(0.05)
        def down_msgs():
            # the fail asset's DOWN (not an AGENT_DOWN of an agent that went silent)
            return [m for m in hook.messages()
                    if re.search(r"scale[- ]0\b", harness.message_text(m))
                    and not re.search(r"AGENT[ _](DOWN|UP)", harness.message_text(m).upper())
                    and harness.classify_message(m) == "DOWN"]
        harness.wait_for(lambda: down_msgs(), 30, "DOWN of %s at the fake Slack" % fail_asset)
        t_hook = down_msgs()[0]["t"]
        res["webhook_messages"] = len(hook.messages())

        time.sleep(max(0.0, s0["t"] + args.duration - time.time()))
        s1 = sample(pg, col, lg)
        acts = {int(r[0]): (r[1], r[2]) for r in pg.query(
            "SELECT pid, backend_type, left(regexp_replace(query, '\\s+', ' ', 'g'), 60)"
            " FROM pg_stat_activity")}
        res["backends"] = sorted(((acts.get(b, ("?", "?"))[0], acts.get(b, ("?", "?"))[1],
                                   (t - s0["backends"].get(b, 0)) / CLK_TCK)
                                  for b, t in s1["backends"].items()), key=lambda x: -x[2])
        hwm_kb = status_kb(col.pid, "VmHWM")
        rss_kb = status_kb(col.pid, "VmRSS")
        if pt:
            pt.join()
        harness.wait_for(lambda: lg.done is not None, 30, "load generator done")
        lg.stop()
        res["loadgen_rc"] = lg.p.returncode
        if lg.p.returncode != 0:
            with open(env.path("log", "loadgen.log")) as f:
                res["loadgen_stderr"] = f.read()[-3000:]
        metrics = harness.http_get(col.api + "/metrics", 5.0)[1]
        if isinstance(metrics, bytes):
            metrics = metrics.decode()

        win = s1["t"] - s0["t"]
        ftimes = {}
        for f in lg.fails:
            ftimes.setdefault(f["agent"], []).append(f)
        thr = 2  # failureThreshold default
        votes = sorted(fs[thr - 1]["t"] for fs in ftimes.values() if len(fs) >= thr)
        quorum_n = args.agents // 2 + 1
        t_quorum = votes[quorum_n - 1] if len(votes) >= quorum_n else None
        res.update({
            "window_s": win,
            "rows_per_s": (s1["rows"] - s0["rows"]) / (s1["t_rows"] - s0["t_rows"]),
            "hwm_per_s": (s1["hwm"] - s0["hwm"]) / (s1["t_hwm"] - s0["t_hwm"]),
            "acked_per_s": (lg.acked_at(s1["t_hwm"]) - lg.acked_at(s0["t_hwm"]))
            / (s1["t_hwm"] - s0["t_hwm"]),
            "rows_total": s1["rows"], "count_query_s": s1["dt_rows"],
            "col_cpu_s": s1["col_cpu"] - s0["col_cpu"],
            "pg_cpu_s": s1["pg_cpu"] - s0["pg_cpu"],
            "lg_cpu_s": s1["lg_cpu"] - s0["lg_cpu"],
            "col_hwm_mb": hwm_kb / 1024.0, "col_rss_mb": rss_kb / 1024.0,
            "fail_first_sent": min(f["t"] for f in lg.fails) if lg.fails else None,
            "t_quorum": t_quorum,
            "incident_polled_s": t_inc - t_quorum if t_inc and t_quorum else None,
            "incident_detected_s": inc[0] - t_quorum if inc and t_quorum else None,
            "incident_started_minus_first_fail_s":
                inc[1] - min(f["t"] for f in lg.fails) if inc and lg.fails else None,
            "notification_s": t_hook - t_quorum if t_quorum else None,
            "loadgen": lg.done,
            "threads": sorted(((s1["threads"][t][0], t, (s1["threads"][t][1]
                                - s0["threads"].get(t, ("", 0))[1]) / CLK_TCK)
                               for t in s1["threads"]), key=lambda x: -x[2]),
        })
        for name in ("statusd_metrics_series_dropped_total", "statusd_bus_dropped_total",
                     "statusd_batches_held_back_total",
                     "statusd_batch_gaps_total", "statusd_store_errors_total",
                     "statusd_engine_results_dropped_total",
                     "statusd_batches_resync_dropped_total"):
            tot = sum(float(m.group(1)) for m in
                      re.finditer(r"^%s(?:\{[^}]*\})? (\S+)$" % name, metrics, re.M))
            res["metric " + name] = tot
        res["perf"] = perf_out
    except Exception:
        env.failed = True
        env.dump_logs(30)
        raise
    finally:
        env.cleanup()

    r = res
    print()
    print("== collector scale benchmark: %d assets, %d simulated agents, batch %d, window %d,"
          " PostgreSQL %s" % (args.assets, args.agents, args.batch, args.window,
                              "durable (fsync on)" if args.durable else "fsync off"))
    rows = [
        ("results stored/s (probe_events count(*))", "%.0f" % r["rows_per_s"]),
        ("results stored/s (sum of agents.last_seq)", "%.0f" % r["hwm_per_s"]),
        ("results acked/s (Ack through_seq at the loadgen)", "%.0f" % r["acked_per_s"]),
        ("window, s", "%.1f" % r["window_s"]),
        ("collector CPU s in window (of %.0f per core)" % r["window_s"],
         "%.1f (%.0f%% of one core)" % (r["col_cpu_s"], 100 * r["col_cpu_s"] / r["window_s"])),
        ("PostgreSQL CPU s in window",
         "%.1f (%.0f%% of one core)" % (r["pg_cpu_s"], 100 * r["pg_cpu_s"] / r["window_s"])),
        ("loadgen CPU s in window",
         "%.1f (%.0f%% of one core)" % (r["lg_cpu_s"], 100 * r["lg_cpu_s"] / r["window_s"])),
        ("collector peak RSS (VmHWM), MB", "%.1f" % r["col_hwm_mb"]),
        ("collector RSS at end, MB", "%.1f" % r["col_rss_mb"]),
        ("quorum-forming result -> incident row seen (poll 50 ms), s",
         "%.3f" % r["incident_polled_s"] if r["incident_polled_s"] is not None else "n/a"),
        ("quorum-forming result -> incidents.detected_at, s",
         "%.3f" % r["incident_detected_s"] if r["incident_detected_s"] is not None else "n/a"),
        ("quorum-forming result -> Slack request at receiver, s",
         "%.3f" % r["notification_s"] if r["notification_s"] is not None else "n/a"),
        ("incident started_at - first failing result sent, s",
         "%.3f" % r["incident_started_minus_first_fail_s"]
         if r["incident_started_minus_first_fail_s"] is not None else "n/a"),
        ("rows in probe_events at end (count took %.2f s)" % r["count_query_s"],
         "%d" % r["rows_total"]),
    ]
    print("| | |\n|---|---:|")
    for k, v in rows:
        print("| %s | %s |" % (k, v))
    print()
    print("loadgen (exit %s):" % r["loadgen_rc"], json.dumps(r["loadgen"]))
    print("requests at the fake Slack receiver:", r["webhook_messages"])
    if r.get("loadgen_stderr"):
        print(r["loadgen_stderr"])
    print("collector threads, CPU s in window:",
          ", ".join("%s/%d %.1f" % th for th in r["threads"] if th[2] >= 0.05))
    print("PostgreSQL processes, CPU s in window (type, last query):")
    for bt, q, c in r["backends"]:
        if c >= 0.1:
            print("  %6.1f  %s  %s" % (c, bt, q))
    for k in sorted(r):
        if k.startswith("metric "):
            print("%s = %g" % (k[7:], r[k]))
    if r.get("perf"):
        for k, v in r["perf"].items():
            print("\n-- perf, collector, %s --\n%s" % (k, v))
    ok_rate = r["hwm_per_s"] >= 50000
    ok_rss = r["col_hwm_mb"] < 256
    print("\ntarget >= 50,000 results/s: %s; collector RSS < 256 MB: %s"
          % ("met" if ok_rate else "MISSED", "met" if ok_rss else "MISSED"))


if __name__ == "__main__":
    main()
