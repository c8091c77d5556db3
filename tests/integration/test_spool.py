"""The agent's disk spool (--spool-dir): nothing probed while the collector is away is lost
to an agent restart, a damaged segment, a full disk or the byte bound.

One real PostgreSQL, one collector, four agents (each in its own region, so each probes only
its own assets, every 1 s, against its own local HTTP target that counts requests). The
collector is stopped for OUTAGE_S (30) seconds; all four agents probe meanwhile.

  a  SIGKILL: agent A is killed with SIGKILL at the end of the outage; collector and A are
     started again. Every probe of the outage (each request A's target received) is stored
     exactly once, with no gap between consecutive probe times above 1 s + GAP_TOL_S.
  b  corrupt segment: agent B is killed likewise; the test reads B's spool (the record
     format: "SDR1", u32 payload length, u64 seq, CRC, payload) and flips one byte in the
     payload of an unacknowledged record probed during the outage. B starts, logs the
     damage (corrupt=1), stores every other record of its spool (by seq), and goes on.
  c  full disk: agent C's spool is a 64 KiB tmpfs (root: mount -t tmpfs) mostly taken by a
     filler file. C logs that it is degraded, keeps probing (in memory), and once the
     collector is back every probe of the outage is stored; the spool becomes writable again
     once acks free it.
  d  byte bound: agent D (50 assets, --spool-max-bytes 64K) drops its oldest results once
     the spool is full, logging each drop with its count; its spool directory never exceeds
     64 KiB; what is stored after the outage is exactly what was probed minus what was
     logged as dropped, and the dropped ones are the oldest.

Finally every agent's stored seqs are distinct (nothing stored twice) and SIGTERM stops C and
D with their spool counters in the stats line.
"""
import os
import re
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import SLOW, check, log, measure, run_test, wait_for  # noqa: E402

OUTAGE_S = 30
GAP_TOL_S = 0.25
D_ASSETS = 50
D_MAX_BYTES = 64 * 1024
NOTIFIERS = {"notifiers": {}, "notificationPolicy": {"onDown": [], "onRecovery": []}}


def asset(aid, region, target):
    return {"id": aid, "assetType": "http", "name": aid, "address": target.url("/" + aid),
            "intervalSeconds": 1, "timeoutSeconds": 1, "expectedStatusCodes": [200],
            "locations": [region]}


def rows(pg, agent, t0=None, t1=None):
    """(seq, probe time in unix s, asset) of agent's stored results, by probe time."""
    where = "agent_id = '%s'" % agent
    if t0 is not None:
        where += " AND ts >= to_timestamp(%f) AND ts < to_timestamp(%f)" % (t0, t1)
    return [(int(r[0]), float(r[1]), r[2]) for r in pg.query(
        "SELECT seq, extract(epoch FROM ts), asset_id FROM probe_events WHERE %s "
        "ORDER BY ts, asset_id" % where)]


def stored_once(pg, agent):
    n, seqs, keys = (int(x) for x in pg.query(
        "SELECT count(*), count(DISTINCT seq), count(DISTINCT (asset_id, ts)) FROM "
        "probe_events WHERE agent_id = '%s'" % agent)[0])
    return n, seqs, keys


def max_gap(times):
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def spool_records(d):
    """{seq: (file, payload offset, started_at_ms)} of every record in d, and the floor."""
    floor = 0
    p = os.path.join(d, "floor")
    if os.path.exists(p):
        with open(p, "rb") as f:
            b = f.read(16)
        if len(b) == 16 and b[:4] == b"SDF1":
            floor = struct.unpack_from("<Q", b, 4)[0]
    recs = {}
    for name in sorted(os.listdir(d)):
        if not re.match(r"^seg-\d{20}\.log$", name):
            continue
        try:
            with open(os.path.join(d, name), "rb") as f:
                data = f.read()
        except FileNotFoundError:  # deleted by a running agent meanwhile
            continue
        off = 0
        while off + 20 <= len(data) and data[off:off + 4] == b"SDR1":
            plen, seq = struct.unpack_from("<IQ", data, off + 4)
            started = struct.unpack_from("<q", data, off + 20 + 4)[0]
            recs[seq] = (os.path.join(d, name), off + 20, started)
            off += 20 + plen
    return recs, floor


def dir_bytes(d):
    """Bytes of the segment files in d; a segment the running agent deletes between the
    listing and its stat counts 0 (it is gone)."""
    total = 0
    for n in os.listdir(d):
        if n.startswith("seg-"):
            try:
                total += os.path.getsize(os.path.join(d, n))
            except FileNotFoundError:
                pass
    return total


def stats_line(agent):
    m = re.findall(r"stats .*", agent.log_text())
    return m[-1] if m else ""


def kv(line, key):
    m = re.search(r"\b%s=(-?\d+)" % key, line)
    return int(m.group(1)) if m else None


def main(env):
    if os.geteuid() != 0:
        raise AssertionError("scenario c mounts a tmpfs: run as root (CI does)")
    pg = env.start_pg()
    ta, tb, tc, td = env.target(), env.target(), env.target(), env.target()
    assets = [asset("a-web", "ra", ta), asset("b-web", "rb", tb)]
    assets += [asset("c-web-%d" % i, "rc", tc) for i in range(5)]
    assets += [asset("d-web-%02d" % i, "rd", td) for i in range(D_ASSETS)]
    col = env.start_collector(pg, {"assets": assets}, NOTIFIERS, heartbeat_ms=1000)

    # c's spool: a 64 KiB tmpfs of which a filler takes 56 KiB
    tmpfs = env.path("tmpfs")
    os.makedirs(tmpfs)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", tmpfs],
                   check=True)
    try:
        with open(os.path.join(tmpfs, "filler"), "wb") as f:
            f.write(b"\0" * (56 * 1024))
        scenarios(env, pg, col, (ta, tb, tc, td), tmpfs)
    finally:
        for p in env.procs:
            if p.name == "agent-c":
                p.stop()
        subprocess.run(["umount", "-l", tmpfs])


def scenarios(env, pg, col, targets, tmpfs):
    ta, tb, tc, td = targets
    spool = {k: env.path("spool-" + k) for k in "abd"}
    spool["c"] = os.path.join(tmpfs, "spool")
    extra = {k: ["--spool-dir", spool[k]] for k in "abcd"}
    extra["d"] += ["--spool-max-bytes", "64K"]
    agents = {k: env.start_agent(col, k, "r" + k, extra=extra[k]) for k in "abcd"}
    live = [col] + list(agents.values())
    for k in "abcd":
        wait_for(lambda: rows(pg, k), 30, "a stored result of agent %s" % k, procs=live)
    for k in "abcd":
        agents[k].wait_log(r"spool opened dir=", 5)

    # --- the outage ------------------------------------------------------------------------
    col.stop()
    t_stop = time.time()
    hits0 = [t.hits for t in targets]
    log("collector stopped; the agents probe for %d s" % OUTAGE_S)
    d_max_bytes = 0
    while time.time() < t_stop + OUTAGE_S:
        d_max_bytes = max(d_max_bytes, dir_bytes(spool["d"]))
        time.sleep(0.2)
    agents["a"].kill9()
    agents["b"].kill9()
    t_kill = time.time()
    hits1 = [t.hits for t in targets]
    probed = [h1 - h0 for h0, h1 in zip(hits0, hits1)]
    log("outage over: requests per target during it %r" % probed)
    check(agents["c"].wait_log(r"cannot write the spool.*degraded", 1),
          "c: the full tmpfs made the spool degraded (logged)")
    check(d_max_bytes <= D_MAX_BYTES, "d: spool directory at most %d bytes (largest seen %d)"
          % (D_MAX_BYTES, d_max_bytes))

    # b: one unacknowledged record probed during the outage gets a flipped payload byte
    recs, floor = spool_records(spool["b"])
    cand = sorted(s for s, (_, _, st) in recs.items()
                  if s > floor and st / 1000.0 > t_stop + 2 and st / 1000.0 < t_kill - 2)
    check(len(cand) >= 20, "b: %d records of the outage in the spool (floor %d)"
          % (len(cand), floor))
    victim = cand[len(cand) // 2]
    path, off, _ = recs[victim]
    with open(path, "r+b") as f:
        f.seek(off + 10)
        byte = f.read(1)
        f.seek(off + 10)
        f.write(bytes([byte[0] ^ 0xFF]))
    log("b: flipped payload byte of seq %d in %s" % (victim, os.path.basename(path)))
    b_expected = [s for s in recs if s > floor and s != victim]

    # --- everything back -----------------------------------------------------------------
    env.restart(col)
    t_back = time.monotonic()
    agents["a"].start()
    agents["b"].start()
    live = [col] + list(agents.values())

    a_win = lambda: rows(pg, "a", t_stop, t_kill)  # noqa: E731
    need_a = probed[0] - 1
    wait_for(lambda: len(a_win()) >= need_a, 30, "a: %d results of the outage" % need_a,
             procs=live)
    measure("a: restart -> the outage's results stored", time.monotonic() - t_back)

    def b_done():
        have = {r[0] for r in rows(pg, "b")}
        return all(s in have for s in b_expected)
    wait_for(b_done, 30, "b: every undamaged record of its spool stored", procs=live)
    measure("b: restart -> its spool's records stored", time.monotonic() - t_back)
    c_win = lambda: rows(pg, "c", t_stop, t_kill)  # noqa: E731
    wait_for(lambda: len(c_win()) >= probed[2] - 5, 30,
             "c: %d results of the outage" % (probed[2] - 5), procs=live)
    measure("c: collector back -> the outage's results stored", time.monotonic() - t_back)
    d_dropped = lambda: sum(int(x) for x in re.findall(  # noqa: E731
        r"oldest results dropped bound=max_bytes records=(\d+)", agents["d"].log_text()))
    d_win = lambda: rows(pg, "d", t_stop, t_kill)  # noqa: E731
    wait_for(lambda: len(d_win()) + d_dropped() >= probed[3] - D_ASSETS, 30,
             "d: the outage's results not dropped", procs=live)
    time.sleep(2.0 * SLOW)  # anything still on its way (nothing should be)

    # a: every probe of the outage stored once, no gap
    win = a_win()
    times = [t for _, t, _ in win]
    log("a: %d requests during the outage, %d results stored for it, largest gap %.3f s"
        % (probed[0], len(win), max_gap(times)))
    check(probed[0] - 1 <= len(win) <= probed[0] + 1,
          "a: results of the outage (%d) = its target's requests (%d), +-1 at the edges"
          % (len(win), probed[0]))
    check(len(win) >= OUTAGE_S - 1, "a: %d results for %d s at 1 s" % (len(win), OUTAGE_S))
    check(max_gap(times) <= 1.0 + GAP_TOL_S, "a: largest gap between probes %.3f s <= %.2f s"
          % (max_gap(times), 1.0 + GAP_TOL_S))
    check(agents["a"].wait_log(r"spool opened dir=\S+ replayed=(\d+)", 1),
          "a: the restarted agent replayed its spool")
    log("a: " + re.findall(r"spool opened.*", agents["a"].log_text())[-1])

    # b: the damage counted, everything else stored, working on
    m = agents["b"].wait_log(r"spool held damaged data, skipped corrupt=(\d+)", 1)
    check(int(m.group(1)) == 1, "b: one damaged stretch reported (%s)" % m.group(0))
    have = {r[0] for r in rows(pg, "b")}
    check(victim not in have, "b: the damaged record (seq %d) is not stored" % victim)
    check(all(s in have for s in b_expected), "b: the other %d records of the spool are stored"
          % len(b_expected))
    n_before = len(rows(pg, "b"))
    wait_for(lambda: len(rows(pg, "b")) >= n_before + 3, 10, "b: new results after restart",
             procs=live)

    # c: degraded, then everything delivered from memory, writable again
    win = c_win()
    by_asset = {}
    for _, t, aid in win:
        by_asset.setdefault(aid, []).append(t)
    gaps = {aid: max_gap(ts) for aid, ts in by_asset.items()}
    log("c: %d requests during the outage, %d results, largest gap per asset %r"
        % (probed[2], len(win), {k: round(v, 3) for k, v in gaps.items()}))
    check(len(by_asset) == 5 and max(gaps.values()) <= 1.0 + GAP_TOL_S,
          "c: every asset probed through the outage, no gap over %.2f s" % (1.0 + GAP_TOL_S))
    check(probed[2] - 5 <= len(win) <= probed[2] + 5,
          "c: results of the outage (%d) = its target's requests (%d), +-1 per asset"
          % (len(win), probed[2]))
    wait_for(lambda: re.search(r"spool writable again", agents["c"].log_text()), 15,
             "c: the spool writable again once acks freed it", procs=live)

    # d: the oldest dropped and counted; the rest stored
    win = d_win()
    dropped = d_dropped()
    first = min(t for _, t, _ in win) if win else t_kill
    log("d: %d requests during the outage, %d stored, %d logged as dropped; first stored "
        "result of the outage %.1f s after its start" % (probed[3], len(win), dropped,
                                                          first - t_stop))
    check(dropped > 0, "d: results dropped by --spool-max-bytes and logged with the count")
    # +-2 per asset: one at each edge of the window (a probe started just before the
    # collector stopped may still be unacknowledged and be dropped with the outage's; the
    # target's count and the results' own start times may put an edge probe on either side)
    check(abs(len(win) + dropped - probed[3]) <= 2 * D_ASSETS,
          "d: stored (%d) + dropped (%d) = probed (%d), +-2 per asset at the two edges"
          % (len(win), dropped, probed[3]))
    check(first - t_stop >= dropped / float(D_ASSETS) - 2.0,
          "d: the dropped results are the oldest (first stored %.1f s into the outage, %d "
          "dropped at %d/s)" % (first - t_stop, dropped, D_ASSETS))

    # nothing stored twice, by anyone
    for k in "abcd":
        n, seqs, keys = stored_once(pg, k)
        check(n == seqs == keys, "agent %s: %d results, %d distinct seqs, %d distinct "
              "(asset, probe time)" % (k, n, seqs, keys))

    # counters in the stats line at shutdown
    for k in "cd":
        check(agents[k].stop() == 0, "agent %s exits 0 on SIGTERM" % k)
    sc, sd = stats_line(agents["c"]), stats_line(agents["d"])
    log("c: " + sc)
    log("d: " + sd)
    check((kv(sc, "spool_write_errors") or 0) > 0 and kv(sc, "spool_degraded") == 0,
          "c: stats line counts the failed writes, no longer degraded")
    check(kv(sd, "spool_records_dropped") == dropped,
          "d: stats line spool_records_dropped=%s = the logged drops %d"
          % (kv(sd, "spool_records_dropped"), dropped))


if __name__ == "__main__":
    run_test(main)
