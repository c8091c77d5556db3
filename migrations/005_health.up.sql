-- StatusD schema v5: the collector watches itself, and the alert engine's decisions are
-- applied exactly once even when a commit's outcome was lost with the connection.

-- One row per collector part that writes to the database (engine, ingest, notifier), per
-- host: upserted every few seconds, so a part that cannot write is noticed even when it
-- has nothing else to write (see the health model in the README).
CREATE TABLE IF NOT EXISTS collector_heartbeats (
    actor     TEXT NOT NULL,
    host      TEXT NOT NULL,
    pid       INTEGER NOT NULL,
    beat_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (actor, host)
);

-- Every decision of the alert engine (open or close an incident with its notifications, a
-- reminder, FLAPPING/STABLE) carries a key unique to the engine's run, written in the
-- decision's own transaction: a decision whose COMMIT reply was lost is recognised when it
-- is retried and not applied twice. Rows older than a week are deleted.
CREATE TABLE IF NOT EXISTS engine_decisions (
    op_key       TEXT PRIMARY KEY,
    incident_id  BIGINT,
    applied_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_engine_decisions_applied ON engine_decisions (applied_at);
