-- StatusD schema v8: each asset's state history, for time-weighted uptime.
--
-- One row per interval in which an asset's shown state (UP, DEGRADED, DOWN, UNKNOWN,
-- UNCONFIRMED, MAINTENANCE) held; ended_at NULL for the current one. Written by the alert
-- engine with assets.state (store_assets_set_state), in the same statement: the open
-- interval is closed and the next one opened at the change. A DOWN interval starts at the
-- outage's first failing probe (the incident's started_at), the others when the engine
-- decided. Read by GET /api/assets/{id}/uptime and the uptime figures of GET /api/assets.
CREATE TABLE IF NOT EXISTS asset_state_intervals (
    id          BIGSERIAL PRIMARY KEY,
    asset_id    TEXT NOT NULL REFERENCES assets(id),
    state       TEXT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    ended_at    TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS idx_state_intervals_asset
    ON asset_state_intervals (asset_id, started_at);
CREATE INDEX IF NOT EXISTS idx_state_intervals_open
    ON asset_state_intervals (asset_id) WHERE ended_at IS NULL;
-- the state each asset is in now starts its history
INSERT INTO asset_state_intervals (asset_id, state, started_at)
    SELECT id, state, COALESCE(state_since, now()) FROM assets
    WHERE NOT EXISTS (SELECT 1 FROM asset_state_intervals i WHERE i.asset_id = assets.id);
