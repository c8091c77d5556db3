-- StatusD schema v9: hourly and daily rollups per asset and per location.
--
-- One row per (asset, period, bucket, location): period 'hour' or 'day' (UTC), bucket the
-- hour's or day's start, location a region, or '' for all the asset's locations together.
-- samples and successes count the results probed in the bucket; the latency percentiles are
-- of the successful ones (NULL without any); the state seconds (location '' rows only) are
-- the asset's time in each shown state within the bucket, from asset_state_intervals. Built
-- by the collector's hourly upkeep (store_rollups.c) for the completed hours and days, kept
-- --history-days (store_retention.c) while raw results keep --retention-days.
CREATE TABLE IF NOT EXISTS asset_rollups (
    asset_id            TEXT NOT NULL,
    period              TEXT NOT NULL CHECK (period IN ('hour', 'day')),
    bucket              TIMESTAMPTZ NOT NULL,
    location            TEXT NOT NULL,
    samples             INTEGER NOT NULL DEFAULT 0,
    successes           INTEGER NOT NULL DEFAULT 0,
    latency_p50         DOUBLE PRECISION,
    latency_p95         DOUBLE PRECISION,
    latency_p99         DOUBLE PRECISION,
    up_seconds          DOUBLE PRECISION NOT NULL DEFAULT 0,
    degraded_seconds    DOUBLE PRECISION NOT NULL DEFAULT 0,
    down_seconds        DOUBLE PRECISION NOT NULL DEFAULT 0,
    maintenance_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    unknown_seconds     DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (asset_id, period, bucket, location)
);
CREATE INDEX IF NOT EXISTS idx_asset_rollups_bucket ON asset_rollups (period, bucket);
-- How far each period is built: the upkeep goes on from here (rebuilding the last bucket, for
-- results that came late), a bounded number of buckets at a time.
CREATE TABLE IF NOT EXISTS rollup_watermarks (
    period      TEXT PRIMARY KEY,
    built_until TIMESTAMPTZ NOT NULL
);
