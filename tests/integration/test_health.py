"""The collector watches itself: /api/health, the statusd_actor_* metrics and the dead man's
switch, against a real PostgreSQL, a real agent and a real target.

  1. healthy: /api/health 200 naming every part ok; the dead man's switch is pressed
     (POST every second); /metrics has statusd_actor_heartbeat_timestamp_seconds and
     statusd_actor_last_db_write_timestamp_seconds per part and passes promtool
  2. a part stuck: a session of the test holds a row lock on the engine's heartbeat row
     (SELECT ... FOR UPDATE in an open transaction), so the engine blocks in its next write,
     as it would behind any lock in a real database. No test hook is needed: the engine is
     really stuck. /api/health answers 503 naming "engine" (stuck) and the result pipeline
     (results stored but not judged); the dead man's switch stops; after the lock is
     released: 200 again, the switch resumes
  3. the database down (pg_ctl stop -m fast): 503 naming "database" and the parts that
     cannot write (db_failing), /metrics still served; started again: 200 again
  4. after both faults a new outage of the target pages exactly once (DOWN) and its recovery
     exactly once (RECOVERY)
  5. the alert rules for these series fire (promtool test rules)
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (SLOW, SOURCE_DIR, check, classify_message, http_get, log,  # noqa: E402
                     measure, run_test, timed_wait, wait_for, webhook_url)

STUCK_S = 3
DB_S = 4


def health(col):
    import json
    status, body = http_get(col.api + "/api/health", 5.0)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {"raw": body}


def deadman_count(hook):
    return sum(1 for m in hook.messages() if m.get("path", "").startswith("/deadman"))


def pages(hook, kind):
    return sum(1 for m in hook.messages()
               if not m.get("path", "").startswith("/deadman") and classify_message(m) == kind)


def promtool_check_metrics(col):
    status, text = http_get(col.api + "/metrics")
    check(status == 200, "/metrics answers 200 (%d)" % status)
    r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = r.stdout.decode()
    # promtool exits 1 for lint findings too (e.g. counters without _total from libraries);
    # a parse error is what matters: it would make Prometheus drop the whole scrape
    check("error while linting" not in out and "parse" not in out.lower(),
          "promtool check metrics parses /metrics: %s" % out.strip()[:300])
    return text


class HeldLock:
    """A psql session holding a row lock in an open transaction until release()."""

    def __init__(self, pg, sql):
        self.p = subprocess.Popen(
            [os.path.join(pg.bindir, "psql"), "-X", "-q", "-h", pg.host, "-p", str(pg.port),
             "-U", "postgres", "-d", pg.dbname, "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.p.stdin.write("BEGIN;\n%s;\n\\echo LOCKED\n" % sql)
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        while line and "LOCKED" not in line:
            line = self.p.stdout.readline()
        if "LOCKED" not in line:
            raise AssertionError("psql did not take the lock: %r" % line)

    def release(self):
        self.p.stdin.write("ROLLBACK;\n\\q\n")
        self.p.stdin.flush()
        self.p.wait(10)


def main(env):
    pg = env.start_pg()
    target = env.target()
    hook = env.webhook()
    manifest = {"assets": [
        {"id": "web", "assetType": "http", "name": "Web", "address": target.url("/health"),
         "intervalSeconds": 1, "timeoutSeconds": 1, "failureThreshold": 2, "quorum": 1}],
        "flapping": {"recoveryHoldSeconds": 0}}
    notifiers = {"notifiers": {"slack": {"type": "slack",
                                         "webhookUrl": webhook_url(hook, "/services/T/B/x")}},
                 "notificationPolicy": {"onDown": ["slack"], "onRecovery": ["slack"],
                                        "throttleSeconds": 0, "repeatAlerts": False}}
    col = env.start_collector(pg, manifest, notifiers, extra=[
        "--health-stuck-seconds", str(STUCK_S), "--health-db-seconds", str(DB_S),
        "--deadman-url", hook.url("/deadman/ping"), "--deadman-interval", "1",
        "--deadman-method", "POST"])
    env.start_agent(col, "a-eu", "eu")

    # 1. healthy
    wait_for(lambda: int(pg.scalar("SELECT count(*) FROM probe_events") or 0) >= 3,
             20 * SLOW, "results stored", procs=[col])
    status, h = health(col)
    check(status == 200, "/api/health 200 while healthy: %s" % h)
    parts = h.get("parts", {})
    check(all(parts.get(p, {}).get("status") == "ok"
              for p in ("engine", "ingest", "notifier", "gateway")),
          "every part reported ok: %s" % sorted(parts))
    timed_wait(lambda: deadman_count(hook) >= 2, 10 * SLOW, "dead man's switch pressed twice")
    text = promtool_check_metrics(col)
    for name in ("statusd_actor_heartbeat_timestamp_seconds{actor=\"engine\"}",
                 "statusd_actor_last_db_write_timestamp_seconds{actor=\"engine\"}",
                 "statusd_actor_last_db_write_timestamp_seconds{actor=\"ingest\"}",
                 "statusd_actor_last_db_write_timestamp_seconds{actor=\"notifier\"}",
                 "statusd_collector_healthy 1"):
        check(name in text, "/metrics has %s" % name)

    # 2. the engine stuck behind a row lock
    lock = HeldLock(pg, "SELECT * FROM collector_heartbeats WHERE actor = 'engine' FOR UPDATE")
    t0 = time.monotonic()
    try:
        def stuck():
            st, hh = health(col)
            return st == 503 and "engine" in hh.get("unhealthy", []) and hh
        _, dt = timed_wait(stuck, (STUCK_S + 10) * SLOW, "/api/health 503 naming the engine")
        measure("engine blocked -> /api/health 503 (limit %d s)" % STUCK_S, dt)
        st, hh = health(col)
        log("report while stuck: %s" % hh)
        check(hh["parts"]["engine"]["status"] == "stuck", "engine reported stuck")
        check(hh["parts"]["ingest"]["status"] == "ok", "ingest still ok while the engine is stuck")
        wait_for(lambda: "results" in health(col)[1].get("unhealthy", []),
                 (STUCK_S + 5) * SLOW, "results stored but not judged reported")
        text = promtool_check_metrics(col)
        check("statusd_collector_healthy 0" in text, "statusd_collector_healthy 0 while stuck")
        before = deadman_count(hook)
        time.sleep(2.5)  # the scenario: watch for absence over 2 switch intervals
        check(deadman_count(hook) <= before + 1,
              "dead man's switch not pressed while unhealthy (%d -> %d)"
              % (before, deadman_count(hook)))
    finally:
        lock.release()
    _, dt = timed_wait(lambda: health(col)[0] == 200, 20 * SLOW, "/api/health 200 again")
    measure("lock released -> /api/health 200", dt)
    n = deadman_count(hook)
    timed_wait(lambda: deadman_count(hook) > n, 10 * SLOW, "dead man's switch pressed again")
    log("engine was blocked for %.1f s" % (time.monotonic() - t0))

    # 3. the database down
    pg.stop(mode="fast")
    t0 = time.monotonic()

    def db_named():
        st, hh = health(col)
        bad = hh.get("unhealthy", [])
        return st == 503 and "database" in bad and "engine" in bad and "ingest" in bad and hh
    try:
        _, dt = timed_wait(db_named, (DB_S + 15) * SLOW, "/api/health 503 naming the database")
        measure("database stopped -> 503 naming database and parts (limit %d s)" % DB_S, dt)
        st, hh = health(col)
        log("report while the database is down: %s" % hh)
        check(hh["parts"]["engine"]["status"] == "db_failing", "engine: db_failing")
        check(http_get(col.api + "/metrics")[0] == 200, "/metrics still served")
        before = deadman_count(hook)
        time.sleep(2.5)
        check(deadman_count(hook) <= before + 1, "dead man's switch quiet while the database "
              "is down (%d -> %d)" % (before, deadman_count(hook)))
    finally:
        pg.start()
    _, dt = timed_wait(lambda: health(col)[0] == 200, 30 * SLOW, "/api/health 200 again")
    measure("database started -> /api/health 200", dt)
    log("database was down for %.1f s" % (time.monotonic() - t0))

    # 4. a new outage pages exactly once, its recovery exactly once
    target.set_status(500)
    _, dt = timed_wait(lambda: pages(hook, "DOWN") >= 1, 20 * SLOW, "one DOWN")
    measure("target 500 -> DOWN at the receiver", dt)
    target.set_status(200)
    _, dt = timed_wait(lambda: pages(hook, "RECOVERY") >= 1, 20 * SLOW, "one RECOVERY")
    measure("target 200 -> RECOVERY at the receiver", dt)
    time.sleep(3)  # absence of duplicates: several more probe rounds
    check(pages(hook, "DOWN") == 1 and pages(hook, "RECOVERY") == 1,
          "exactly one DOWN and one RECOVERY (%d, %d)"
          % (pages(hook, "DOWN"), pages(hook, "RECOVERY")))
    check(int(pg.scalar("SELECT count(*) FROM incidents")) == 1, "exactly one incident")

    # 5. the alert rules
    rules_dir = os.path.join(SOURCE_DIR, "deploy", "prometheus")
    r = subprocess.run(["promtool", "test", "rules", "statusd.rules.test.yml"], cwd=rules_dir,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    check(r.returncode == 0, "promtool test rules: %s" % r.stdout.decode().strip())


if __name__ == "__main__":
    run_test(main)
