#!/usr/bin/python3
"""spool_bench: the agent's CPU per probe with its disk spool off and on, side by side.

    bench/spool_bench.py [--rate 1000] [--interval 2] [--duration 20] [--rounds 3]
                         [--fsync 1000,0] [--spool-parent DIR]

The workload of bench/probe_bench.py (one local nginx, rate x interval HTTP assets, each
GET /bench?a=ID every `interval` seconds, assigned by a real collector with a private
PostgreSQL) is probed by one statusd-agent at a time in these variants:

  off         no --spool-dir (results in memory only)
  fsync N     --spool-dir DIR --spool-fsync-ms N, for each N of --fsync (1000 is the
              default: fdatasync at most once a second; 0: after every loop iteration that
              wrote results)

Each variant runs --rounds times, interleaved (off, fsync 1000, fsync 0, off, ...), so a
slow phase of the shared machine does not land on one variant only. In each run, after one
interval of warm-up, a window of `duration` seconds is measured: probes completed (requests
nginx logged in the window), the agent's CPU seconds (utime + stime from /proc), the CPU
seconds per 1,000 probes, the p99 lateness of probe starts at nginx, peak RSS, and, from the
agent's stats line at exit, the fsyncs done. The spool directory is a fresh one under
--spool-parent (default: the bench's temp dir) on a real file system (its type is printed:
fsync on tmpfs costs nothing). The collector acknowledges results as they come, so the spool
stays small: this measures what the spool costs in normal operation (a write per result, a
release per ack, a segment deleted now and then, the fsyncs).

First, statusd-spool-bench (bench/spool_append.c, built with the project) measures on the
same file system what the spool costs per result below the process level: CPU per append
and per fsync. From those and each variant's fsyncs per second the table derives the spool's
expected share of the agent's CPU per probe, a figure that the machine's noise does not blur.

Prints the median of each variant's runs and a Markdown table for bench/RESULTS.md.
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
from probe_bench import (NOTIFIERS, cpu_seconds, nginx_entries, status_kb,  # noqa: E402
                         summarize)
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


def run_variant(env, col, ng, n_assets, name, extra, interval, duration, tag):
    agent = env.start_agent(col, "spool-" + tag, "bench", extra=extra)
    agent.wait_log(r"assignment applied version=\d+ assets=%d\b" % n_assets, 60)
    t_start = time.time() + interval + 1.0
    time.sleep(t_start - time.time())
    cpu0 = cpu_seconds(agent.pid)
    time.sleep(duration)
    cpu1 = cpu_seconds(agent.pid)
    hwm = status_kb(agent.pid, "VmHWM")
    t_end = t_start + duration
    time.sleep(1.0)  # let nginx log the window's last requests
    agent.stop()
    stats = re.findall(r"stats .*", agent.log_text())
    line = stats[-1] if stats else ""
    syncs = re.search(r"spool_syncs=(\d+)", line)
    entries = nginx_entries(ng.access_log, "sp-", t_start, t_end)
    r = summarize(name, entries, cpu1 - cpu0, hwm, duration, interval * 1000)
    up = re.search(r"probes_started=(\d+)", line)
    r["syncs_per_s"] = (int(syncs.group(1)) / (duration + interval + 2.0)) if syncs else 0.0
    r["probes_started"] = int(up.group(1)) if up else 0
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=2)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=3)
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
    results = {name: [] for name, _ in variants}
    mb, mb_out = micro(parent)
    print(mb_out, flush=True)
    try:
        ng = Nginx(env.path("nginx"), access_log=True).start(env)
        pg = env.start_pg()
        n = args.rate * args.interval
        assets = [{"id": "sp-%d" % i, "assetType": "http", "name": "bench %d" % i,
                   "address": ng.url("/bench?a=sp-%d" % i), "intervalSeconds": args.interval,
                   "timeoutSeconds": args.interval, "expectedStatusCodes": [200]}
                  for i in range(n)]
        col = env.start_collector(pg, {"assets": assets}, NOTIFIERS)
        for rnd in range(args.rounds):
            for name, f in variants:
                tag = "%s-%d" % (name.replace(" ", ""), rnd)
                extra = []
                if f is not None:
                    extra = ["--spool-dir", os.path.join(parent, tag), "--spool-fsync-ms",
                             str(f)]
                print("== round %d: %s ..." % (rnd + 1, name), flush=True)
                r = run_variant(env, col, ng, n, name, extra, args.interval, args.duration,
                                tag)
                print("   %.1f probes/s, %.3f CPU s per 1,000 probes, p99 %s ms, %.1f fsync/s"
                      % (r["per_s"], r["cpu_per_1000"], r["p99"], r["syncs_per_s"]),
                      flush=True)
                results[name].append(r)
        col.stop()
    finally:
        env.cleanup()

    def med(name, key):
        return statistics.median(r[key] for r in results[name])
    base = med("off", "cpu_per_1000")
    rows = [("probes completed per second", "per_s", "{:.1f}"),
            ("CPU seconds per 1,000 probes (median)", "cpu_per_1000", "{:.3f}"),
            ("peak RSS (VmHWM), MB", "hwm_mb", "{:.1f}"),
            ("start lateness p99, ms", "p99", "{:.0f}"),
            ("fsyncs per second", "syncs_per_s", "{:.1f}")]
    names = [name for name, _ in variants]
    print()
    print("%d probes/s (%d assets every %d s), %d rounds of %.0f s, spool on %s"
          % (args.rate, n, args.interval, args.rounds, args.duration, fst))
    print("| %d probes/s | %s |" % (args.rate, " | ".join(names)))
    print("|---|" + "---:|" * len(names))
    for label, key, fmt in rows:
        print("| %s | %s |" % (label, " | ".join(fmt.format(med(nm, key)) for nm in names)))
    if mb:
        def share(nm):
            if nm == "off":
                return "-"
            per_probe = mb["append_us"] + mb["sync_cpu_us"] * med(nm, "syncs_per_s") / \
                med(nm, "per_s")
            return "%.1f us = %.1f%%" % (per_probe, per_probe / (base * 1000.0) * 100)
        print("| spool's own CPU per probe (statusd-spool-bench: %.2f us per record written 3 at "
              "a time, %.0f us per fsync) | %s |" % (mb["append_us"], mb["sync_cpu_us"],
                                     " | ".join(share(nm) for nm in names)))
    print("| CPU per probe vs off | %s |" % " | ".join(
        "%+.1f%%" % ((med(nm, "cpu_per_1000") / base - 1) * 100) for nm in names))
    print("| each run's CPU s per 1,000 probes | %s |" % " | ".join(
        ", ".join("%.3f" % r["cpu_per_1000"] for r in results[nm]) for nm in names))


if __name__ == "__main__":
    main()
