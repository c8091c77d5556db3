"""Fault c of the matrix: PostgreSQL down for 5 minutes while the agents keep probing.

The set-up and the checks are test_db_faults.py's (imported): one real PostgreSQL, one
collector, two agents (eu, us), interval 2 s, failureThreshold 2, recovery hold 2 s, a fake
Slack receiver. Two targets: "long" (broken after the outage) and "long-steady" (never).

  1. PostgreSQL stopped (-m fast) for STATUSD_LONG_OUTAGE_S seconds (default 300): the
     collector and both agents stay up, /api/health answers 503 the whole time (checked every
     5 s), 200 once it is back
  2. every result probed during the outage is stored after it: per agent and asset about
     outage / interval results with a probe time inside the outage, and per agent the stored
     seqs are exactly first_seq..max (nothing lost, nothing stored twice)
  3. the backlog opens nothing: "long-steady" has no incident, no message goes out
  4. a NEW outage of "long": exactly one incident and one DOWN within 9 s, recovery with one
     RECOVERY (the outage check of test_db_faults.py)
  5. agents stopped with SIGTERM: every result they no longer held is stored exactly once;
     no pending outbox row, /metrics passes promtool

STATUSD_LONG_OUTAGE_S shortens the outage while iterating; CI runs the default.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_db_faults as m  # noqa: E402
from harness import check, log, measure, run_test  # noqa: E402

LONG_S = float(os.environ.get("STATUSD_LONG_OUTAGE_S", "300"))
ASSETS = [("long", "Target after a long outage"), ("long-steady", "Target never broken")]
POLL_S = 5.0


def sc_long(w):
    stats = {"polls": 0}

    def during():
        # the outage itself: watch the processes and /api/health every few seconds
        t_end = time.monotonic() + LONG_S - 1.0
        while time.monotonic() < t_end:
            for p in w.procs():
                if not p.alive():
                    m.fail("c: %s exited (rc=%s) during the outage" % (p.name, p.returncode()))
            st = w.health()
            if st != 503:
                m.fail("c: /api/health answered %s after %.0f s of the outage, not 503"
                       % (st, LONG_S - (t_end - time.monotonic())))
            stats["polls"] += 1
            time.sleep(min(POLL_S, max(0.0, t_end - time.monotonic())))
    pre = m.snapshot(w, "c", list(w.assets))
    wall_down = time.time()
    wall_up, t_up = m.db_outage(w, "c", "fast", down_s=LONG_S, during=during)
    log("c: /api/health was 503 at all %d polls of the outage" % stats["polls"])

    # 2. the backlog is stored: results probed inside the outage window, per agent and asset
    want = int((wall_up - wall_down) / m.INTERVAL) - 2

    def backlog():
        rows = w.pg.query(
            "SELECT agent_id, asset_id, count(*) FROM probe_events WHERE ts > to_timestamp(%f) "
            "AND ts < to_timestamp(%f) GROUP BY agent_id, asset_id" % (wall_down, wall_up))
        got = {(r[0], r[1]): int(r[2]) for r in rows}
        return got if len(got) == 2 * len(w.assets) and min(got.values()) >= want else None
    try:
        got = m.wait_for(backlog, 60, "the outage's results stored", interval=0.5,
                         procs=w.procs())
    except m.WaitTimeout:
        m.fail("c: results probed during the outage not all stored 60 s after it: %r (want "
               ">= %d per agent and asset)" % (backlog_rows(w, wall_down, wall_up), want))
    measure("c: PostgreSQL back -> all results of the %.0f s outage stored" % LONG_S,
            time.monotonic() - t_up)
    log("c: results probed during the outage (agent, asset): %r, >= %d expected each"
        % (got, want))
    m.check_seqs(w, "c")

    # 3. the backlog opened nothing
    m.wait_engine_up(w, "c", list(w.assets))
    for aid in w.assets:
        if len(w.incidents(aid)) != pre[aid][0]:
            m.fail("c: the backlog opened an incident for %s: %s" % (aid, w.diag(aid)))
    if w.hook.messages():
        m.fail("c: messages sent because of the outage: %r"
               % [m.kind_of(x.get("json")) for x in w.hook.messages()])
    check(True, "c: after %.0f s without PostgreSQL: no incident, no message" % LONG_S)

    # 4. a new outage pages once
    opened = m.break_assets(w, "c", ["long"])
    m.recover_assets(w, "c", opened)
    m.check_seqs(w, "c")


def backlog_rows(w, a, b):
    return {(r[0], r[1]): int(r[2]) for r in w.pg.query(
        "SELECT agent_id, asset_id, count(*) FROM probe_events WHERE ts > to_timestamp(%f) "
        "AND ts < to_timestamp(%f) GROUP BY agent_id, asset_id" % (a, b))}


def main(env):
    log("PostgreSQL outage of %.0f s (STATUSD_LONG_OUTAGE_S)" % LONG_S)
    w = m.setup(env, assets=ASSETS)
    try:
        m.run_scenarios(w, [("c", "PostgreSQL down %.0f s while the agents probe" % LONG_S,
                             sc_long, (LONG_S, 90))], budget_s=LONG_S + 240)
        m.final_checks(w, owner={"long": "c", "long-steady": "c"},
                       outages={"long": 1, "long-steady": 0})
    finally:
        m.report(w)


if __name__ == "__main__":
    run_test(main)
