#!/usr/bin/python3
"""spool_bench: the agent's CPU per probe with its disk spool off and on, side by side.

    bench/spool_bench.py [--rate 1000] [--interval 2] [--window 20] [--windows 5]
                         [--fsync 1000,0] [--spool-parent DIR]

The workload of bench/probe_bench.py (one local nginx, rate x interval HTTP assets, each
GET /bench?a=ID every `interval` seconds) is assigned by a real collector (private
PostgreSQL) to several agents at once, one per variant, which probe the same assets on the
same schedule at the same time, so that whatever else the machine does weighs on every
variant alike:

  off         no --spool-dir (results in memory only)
  fsync N     --spool-dir DIR --spool-fsync-ms N, for each N of --fsync (1000 is the
              default: fdatasync at most once a second; 0: after every loop iteration that
              wrote results)

After one interval of warm-up, --windows consecutive windows of --window seconds are
measured; per agent and window: results stored (probe_events rows whose probe started in the
window), CPU seconds (utime + stime from /proc), CPU seconds per 1,000 probes, and the p99
lateness of probe starts against the schedule (from the stored start times); then peak RSS
and, from each agent's stats line at exit, the fsyncs it did. The table shows each
variant's median window. The collector acknowledges results as they come, so the spool
stays small: this is what the spool costs in normal operation (a write per loop iteration
that completed results, a release per ack, a segment deleted now and then, the fsyncs).
The spool directories are fresh ones under --spool-parent (default: the bench's temp dir) on
a real file system (its type is printed: fsync on tmpfs costs nothing).

First, statusd-spool-bench (bench/spool_append.c, built with the project) measures on the
same file system what the spool costs below the process level: CPU per record written and
per fsync; with each variant's fsyncs per second the table derives the spool's own share of
the CPU per probe.

Prints a Markdown table for bench/RESULTS.md.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
from harness import BUILD_DIR, TestEnv  # noqa: E402
from probe_bench import NOTIFIERS, cpu_seconds, pct, phase_ms, status_kb  # noqa: E402
from targets.nginx import Nginx  # noqa: E402


def fs_type(path):
    r = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True)
    return r.stdout.strip() or "?"


def micro(parent):
    """statusd-spool-bench's figures: {"append_us", "sync_cpu_us", "sync_ms"} (empty if the
    tool is not built) and its output."""
    tool = os.environ.get("STATUSD_SPOOL_BENCH_BIN") or os.path.join(BUILD_DIR,
                                                                     "statusd-spool-bench")
    if not os.access(tool, os.X_OK):
        return {}, "(%s not built)" % tool
    out = subprocess.run([tool, os.path.join(parent, "micro")], capture_output=True,
                         text=True, check=True).stdout
    m = {}
    a = re.search(r"append 3 at a time, then release: ([\d.]+) us", out)
    s = re.search(r"sync after 1000 records: median ([\d.]+) ms wall.*?, ([\d.]+) us CPU", out)
    if a and s:
        m = {"append_us": float(a.group(1)), "sync_ms": float(s.group(1)),
             "sync_cpu_us": float(s.group(2))}
    return m, out.strip()


def window_rows(pg, agent, t0, t1):
    """(asset id, start in unix ms) of agent's results that started in [t0, t1)."""
    return [(r[0], int(float(r[1]) * 1000)) for r in pg.query(
        "SELECT asset_id, extract(epoch FROM ts) FROM probe_events WHERE agent_id = '%s' AND "
        "ts >= to_timestamp(%f) AND ts < to_timestamp(%f)" % (agent, t0, t1))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=int, default=1000, help="probes per second per agent")
    ap.add_argument("--interval", type=int, default=2)
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--fsync", default="1000,0")
    ap.add_argument("--spool-parent", default=None)
    args = ap.parse_args()
    fsyncs = [int(x) for x in args.fsync.split(",") if x != ""]
    variants = [("off", None)] + [("fsync %d ms" % f, f) for f in fsyncs]
    env = TestEnv("spool-bench")
    parent = args.spool_parent or env.path("spools")
    os.makedirs(parent, exist_ok=True)
    fst = fs_type(parent)
    print("spool directories under %s (%s)" % (parent, fst), flush=True)
    mb, mb_out = micro(parent)
    print(mb_out, flush=True)
    n = args.rate * args.interval
    iv_ms = args.interval * 1000
    per = {name: [] for name, _ in variants}
    extra_info = {}
    try:
        ng = Nginx(env.path("nginx"), access_log=False).start(env)
        pg = env.start_pg()
        assets = [{"id": "sp-%d" % i, "assetType": "http", "name": "bench %d" % i,
                   "address": ng.url("/bench?a=sp-%d" % i), "intervalSeconds": args.interval,
                   "timeoutSeconds": args.interval, "expectedStatusCodes": [200]}
                  for i in range(n)]
        col = env.start_collector(pg, {"assets": assets}, NOTIFIERS)
        agents = {}
        for k, (name, f) in enumerate(variants):
            extra = []
            if f is not None:
                extra = ["--spool-dir", os.path.join(parent, "v%d" % k), "--spool-fsync-ms",
                         str(f)]
            agents[name] = env.start_agent(col, "spool-v%d" % k, "bench", extra=extra)
        for name, a in agents.items():
            a.wait_log(r"assignment applied version=\d+ assets=%d\b" % n, 60)
        t = time.time() + args.interval + 1.0
        time.sleep(t - time.time())
        cpu = {name: cpu_seconds(a.pid) for name, a in agents.items()}
        marks = [(t, cpu)]
        for w in range(args.windows):
            t += args.window
            time.sleep(t - time.time())
            marks.append((t, {name: cpu_seconds(a.pid) for name, a in agents.items()}))
            print("== window %d of %d done" % (w + 1, args.windows), flush=True)
        for name, a in agents.items():
            extra_info[name] = {"hwm_mb": status_kb(a.pid, "VmHWM") / 1024.0}
        time.sleep(3.0)  # the windows' last results reach the database
        for name, a in agents.items():
            life = time.monotonic() - a.started_at  # fsyncs over the agent's life
            a.stop()
            line = (re.findall(r"stats .*", a.log_text()) or [""])[-1]
            s = re.search(r"spool_syncs=(\d+)", line)
            extra_info[name]["syncs_per_s"] = int(s.group(1)) / life if s else 0.0
        for (t0, c0), (t1, c1) in zip(marks, marks[1:]):
            for name, a in agents.items():
                rows = window_rows(pg, a.agent_id, t0, t1)
                late = [(ms - phase_ms(aid, iv_ms)) % iv_ms for aid, ms in rows]
                cpu_s = c1[name] - c0[name]
                per[name].append({"per_s": len(rows) / (t1 - t0), "cpu_s": cpu_s,
                                  "cpu_per_1000": cpu_s / len(rows) * 1000 if rows else 0.0,
                                  "p99": pct(late, 99)})
        col.stop()
    finally:
        env.cleanup()

    names = [name for name, _ in variants]

    def med(name, key):
        return statistics.median(r[key] for r in per[name])
    base = med("off", "cpu_per_1000")
    print()
    print("%d probes/s per agent (%d assets every %d s), %d agents side by side, %d windows "
          "of %.0f s, spool on %s" % (args.rate, n, args.interval, len(names), args.windows,
                                       args.window, fst))
    print("| %d probes/s, agents side by side | %s |" % (args.rate, " | ".join(names)))
    print("|---|" + "---:|" * len(names))
    rows = [("probes per second (median window)", "per_s", "{:.1f}"),
            ("CPU seconds per 1,000 probes (median window)", "cpu_per_1000", "{:.3f}"),
            ("start lateness p99, ms (median window)", "p99", "{:.0f}")]
    for label, key, fmt in rows:
        print("| %s | %s |" % (label, " | ".join(fmt.format(med(nm, key)) for nm in names)))
    print("| peak RSS (VmHWM), MB | %s |" % " | ".join(
        "%.1f" % extra_info[nm]["hwm_mb"] for nm in names))
    print("| fsyncs per second | %s |" % " | ".join(
        "%.1f" % extra_info[nm]["syncs_per_s"] for nm in names))
    if mb:
        def share(nm):
            if nm == "off":
                return "-"
            us = mb["append_us"] + mb["sync_cpu_us"] * extra_info[nm]["syncs_per_s"] / \
                med(nm, "per_s")
            return "%.1f us = %.1f%%" % (us, us / (base * 1000.0) * 100)
        print("| the spool's own CPU per probe (statusd-spool-bench: %.2f us per record written "
              "3 at a time, %.0f us per fsync) | %s |" % (mb["append_us"], mb["sync_cpu_us"],
                                                        " | ".join(share(nm) for nm in names)))
    print("| CPU per probe vs off (median window) | %s |" % " | ".join(
        "%+.1f%%" % ((med(nm, "cpu_per_1000") / base - 1) * 100) for nm in names))
    print("| CPU per probe vs off, each window | %s |" % " | ".join(
        ", ".join("%+.0f%%" % ((r["cpu_per_1000"] / o["cpu_per_1000"] - 1) * 100)
                  for r, o in zip(per[nm], per["off"])) for nm in names))


if __name__ == "__main__":
    main()
