-- StatusD schema v10: reading the state history by time for every asset at once.
--
-- The uptime figures of all assets (GET /api/assets, the status page) read the rollups for
-- whole hours and days and the raw intervals only for the last hour or two and the edges of
-- a range (store_history.c). Finding the intervals that overlap a short recent range among
-- months of history needs an index on the interval itself: a GiST index on its time range
-- (the open interval, ended_at NULL, is unbounded above). Queries use the same expression.
CREATE INDEX IF NOT EXISTS idx_state_intervals_span
    ON asset_state_intervals USING gist (tstzrange(started_at, ended_at));
-- The rollups of one period and all locations (location '') over a range of buckets, for
-- every asset at once (the primary key leads with the asset). The state seconds are in the
-- index too: the reader scans the index alone (10,000 assets × 30 days: 300,000 rows).
CREATE INDEX IF NOT EXISTS idx_asset_rollups_all_locations
    ON asset_rollups (period, bucket)
    INCLUDE (asset_id, up_seconds, degraded_seconds, down_seconds, maintenance_seconds,
             unknown_seconds)
    WHERE location = '';
-- A state written with a time in the past (a DOWN starts at the outage's first failing probe,
-- which may lie in an hour or a day already rolled up) makes the rollups from there stale:
-- the engine lowers dirty_from in the same statement, readers use the rollups only below
-- LEAST(built_until, dirty_from), and the upkeep rebuilds from dirty_from and clears it.
ALTER TABLE rollup_watermarks ADD COLUMN IF NOT EXISTS dirty_from TIMESTAMPTZ;
