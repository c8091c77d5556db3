-- StatusD schema v3: maintenance windows, isolated agents, flapping assets.

-- Maintenance windows. source 'api' rows come from POST /api/maintenance; source 'manifest'
-- rows are the manifest's windows, rewritten by the engine at start and every few minutes
-- (weekly windows expanded into occurrences with PostgreSQL's time zone database).
-- asset_ids NULL = every asset. An active window: starts_at <= now() < ends_at.
CREATE TABLE IF NOT EXISTS maintenance_windows (
    id             BIGSERIAL PRIMARY KEY,
    source         TEXT NOT NULL DEFAULT 'api',
    name           TEXT,                 -- the manifest window's id
    asset_ids      TEXT[],
    starts_at      TIMESTAMPTZ NOT NULL,
    ends_at        TIMESTAMPTZ NOT NULL,
    reason         TEXT NOT NULL DEFAULT '',
    created_by     TEXT,                 -- API token fingerprint
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_early_at TIMESTAMPTZ,          -- DELETE /api/maintenance/{id}
    CHECK (ends_at >= starts_at)
);
CREATE INDEX IF NOT EXISTS idx_maintenance_ends ON maintenance_windows (ends_at);

-- An agent whose votes the engine ignores because it sees most of its assets failing while
-- the other agents see them up (a broken vantage point, not an outage).
ALTER TABLE agents ADD COLUMN IF NOT EXISTS isolated BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE agents ADD COLUMN IF NOT EXISTS isolated_since TIMESTAMPTZ;

-- Flapping: set with the FLAPPING notification, cleared with the STABLE one; persisted so a
-- restart neither repeats FLAPPING nor sends a STABLE too early.
ALTER TABLE assets ADD COLUMN IF NOT EXISTS flapping BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE assets ADD COLUMN IF NOT EXISTS flapping_since TIMESTAMPTZ;
