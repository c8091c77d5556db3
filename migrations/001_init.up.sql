-- StatusD schema v1. Applied once by the collector at start (tracked in schema_migrations).

CREATE TABLE IF NOT EXISTS assets (
    id                    TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    address               TEXT NOT NULL,
    asset_type            TEXT NOT NULL DEFAULT 'http',
    interval_seconds      INTEGER NOT NULL DEFAULT 300,
    timeout_seconds       INTEGER NOT NULL DEFAULT 5,
    expected_status_codes INTEGER[],
    metadata              JSONB,
    locations             TEXT[],
    -- current verdict of the alert engine: UP, DEGRADED, DOWN, UNKNOWN
    state                 TEXT NOT NULL DEFAULT 'UNKNOWN',
    state_since           TIMESTAMPTZ NOT NULL DEFAULT now(),
    in_manifest           BOOLEAN NOT NULL DEFAULT TRUE,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS agents (
    id             TEXT PRIMARY KEY,
    region         TEXT NOT NULL,
    version        TEXT NOT NULL DEFAULT '',
    first_seen     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen      TIMESTAMPTZ NOT NULL DEFAULT now(),
    connected      BOOLEAN NOT NULL DEFAULT FALSE,
    -- highest result sequence number stored for this agent; written in the same
    -- transaction as the results, so a replayed batch is never stored twice
    last_seq       BIGINT NOT NULL DEFAULT 0,
    clock_skew_ms  BIGINT NOT NULL DEFAULT 0
);

-- Raw results, partitioned by day on the probe's start time; the collector creates
-- partitions ahead of time and drops those past retention. The default partition
-- catches anything outside the created range so an insert never fails.
CREATE TABLE IF NOT EXISTS probe_events (
    asset_id     TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    region       TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    ts           TIMESTAMPTZ NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    success      BOOLEAN NOT NULL,
    latency_ms   DOUBLE PRECISION NOT NULL,
    code         INTEGER,
    message      TEXT,
    phases       JSONB,
    cert_expiry  TIMESTAMPTZ
) PARTITION BY RANGE (ts);

CREATE TABLE IF NOT EXISTS probe_events_default PARTITION OF probe_events DEFAULT;

CREATE INDEX IF NOT EXISTS idx_probe_events_asset_ts ON probe_events (asset_id, ts DESC);
CREATE INDEX IF NOT EXISTS idx_probe_events_agent_seq ON probe_events (agent_id, seq);

CREATE TABLE IF NOT EXISTS incidents (
    id               BIGSERIAL PRIMARY KEY,
    asset_id         TEXT NOT NULL REFERENCES assets(id),
    severity         TEXT NOT NULL DEFAULT 'critical',
    summary          TEXT NOT NULL DEFAULT '',
    -- first failing probe among the agents that formed the quorum
    started_at       TIMESTAMPTZ NOT NULL,
    -- when the engine decided
    detected_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at         TIMESTAMPTZ,
    acknowledged_at  TIMESTAMPTZ,
    -- which agents/regions saw what: [{"agent":..,"region":..,"vote":"DOWN","error":..}]
    details          JSONB NOT NULL DEFAULT '[]'
);
-- at most one open incident per asset
CREATE UNIQUE INDEX IF NOT EXISTS uq_incidents_open_asset ON incidents (asset_id) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_incidents_ended_at ON incidents (ended_at);

CREATE TABLE IF NOT EXISTS incident_events (
    id           BIGSERIAL PRIMARY KEY,
    incident_id  BIGINT NOT NULL REFERENCES incidents(id),
    at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    kind         TEXT NOT NULL,          -- opened, vote, notified, acknowledged, resolved
    detail       JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS idx_incident_events_incident ON incident_events (incident_id, at);

-- Durable notification outbox: one row per (event, channel), written in the same
-- transaction as the state change that caused it.
CREATE TABLE IF NOT EXISTS notifications (
    id               BIGSERIAL PRIMARY KEY,
    incident_id      BIGINT REFERENCES incidents(id),
    asset_id         TEXT,
    event            TEXT NOT NULL,      -- DOWN, RECOVERY, REMINDER
    channel          TEXT NOT NULL,      -- notifier name from notifiers.json
    payload          JSONB NOT NULL,     -- event data; rendered per channel at send time
    status           TEXT NOT NULL DEFAULT 'pending',   -- pending, sent, dead
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at          TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS idx_notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
