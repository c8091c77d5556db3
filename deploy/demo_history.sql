-- deploy/demo_history.sql: DEMO DATA. A made-up past for the assets of a fresh StatusD
-- database, so that the status page's daily bars, uptime figures, response-time charts and
-- incident list are not empty on the first start of deploy/quickstart.sh (which runs this once,
-- after the collector has created the assets from the manifest, and sets the manifest's
-- statusPage.demoNotice so that the page says it is demo data).
--
--   psql "$CONNINFO" -v ON_ERROR_STOP=1 -f deploy/demo_history.sql              # seed
--   psql "$CONNINFO" -v ON_ERROR_STOP=1 -v remove=1 -f deploy/demo_history.sql  # remove
--
-- Seeding: every asset of the manifest that has no history older than a day gets the 14 days
-- before its own history began (its first state interval, or its creation): state intervals
-- (UP, with one short event for the first four assets by id: an outage with its incident, a
-- second shorter outage with its incident, a DEGRADED stretch, a MAINTENANCE stretch), the hour
-- and day rollups of those complete buckets (location '', made-up latencies), and the rollup
-- watermarks moved to where the real history begins (the collector's upkeep does not build the
-- demo buckets again). Each seeded asset is recorded in statusd_demo_history (asset, from,
-- until); a database that has that table is never seeded again. Seeded incidents carry
-- details [{"demo": true}] and their events detail {"demo": true}.
--
-- Removing deletes what statusd_demo_history records: the intervals inside each asset's
-- [from, until), the rollups of the buckets that start before its until (the hour and the day
-- in which the real history began lose their rollups too; both are built again only if still
-- within the upkeep's reach), the demo incidents with their events and notifications, and the
-- table itself. Remove the manifest's statusPage.demoNotice as well.

\if :{?remove}
BEGIN;
DO $$
BEGIN
    IF to_regclass('statusd_demo_history') IS NULL THEN
        RAISE NOTICE 'no demo data here (no table statusd_demo_history)';
        RETURN;
    END IF;
    DELETE FROM asset_state_intervals i USING statusd_demo_history d
        WHERE i.asset_id = d.asset_id AND i.started_at >= d.seeded_from
          AND i.ended_at IS NOT NULL AND i.ended_at <= d.seeded_until;
    DELETE FROM asset_rollups r USING statusd_demo_history d
        WHERE r.asset_id = d.asset_id AND r.bucket >= d.seeded_from
          AND r.bucket < d.seeded_until;
    DELETE FROM notifications WHERE incident_id IN
        (SELECT id FROM incidents WHERE details @> '[{"demo": true}]');
    DELETE FROM incident_events WHERE incident_id IN
        (SELECT id FROM incidents WHERE details @> '[{"demo": true}]');
    DELETE FROM incidents WHERE details @> '[{"demo": true}]';
    DROP TABLE statusd_demo_history;
    RAISE NOTICE 'demo data removed';
END
$$;
COMMIT;
\else
BEGIN;
DO $$
BEGIN
    -- one seeding at a time (two quickstarts on one database), until COMMIT
    PERFORM pg_advisory_xact_lock(hashtext('statusd_demo_history'));
    IF to_regclass('statusd_demo_history') IS NOT NULL THEN
        RAISE NOTICE 'demo data: already seeded once (table statusd_demo_history): nothing done';
        RETURN;
    END IF;
    CREATE TABLE statusd_demo_history (
        asset_id     TEXT PRIMARY KEY,
        seeded_from  TIMESTAMPTZ NOT NULL,
        seeded_until TIMESTAMPTZ NOT NULL,
        seeded_at    TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    COMMENT ON TABLE statusd_demo_history IS
        'DEMO DATA seeded by deploy/demo_history.sql; remove it with -v remove=1';

    -- the assets to seed: in the manifest, no history older than a day; the demo ends where
    -- their own history begins. None (the collector has not created them yet): no table
    -- either, so that a later run seeds them.
    INSERT INTO statusd_demo_history (asset_id, seeded_from, seeded_until)
    SELECT a.id, date_trunc('day', e.until - interval '14 days', 'UTC'), e.until
    FROM assets a
    CROSS JOIN LATERAL (SELECT LEAST(a.created_at, now(),
        (SELECT min(started_at) FROM asset_state_intervals i WHERE i.asset_id = a.id)) AS until) e
    WHERE a.in_manifest
      AND e.until > now() - interval '1 day';
    IF NOT FOUND THEN
        DROP TABLE statusd_demo_history;
        RAISE NOTICE 'demo data: no asset without history to seed: nothing done';
        RETURN;
    END IF;

    -- one event per asset for the first four by id, at a fixed time of a day before `until`
    CREATE TEMP TABLE demo_ev ON COMMIT DROP AS
    SELECT d.asset_id, d.seeded_from, d.seeded_until, a.name, ev.state, ev.summary, ev.ack,
           date_trunc('day', d.seeded_until, 'UTC') - ev.days_back * interval '1 day'
               + ev.at_min * interval '1 minute' AS ev_start,
           date_trunc('day', d.seeded_until, 'UTC') - ev.days_back * interval '1 day'
               + (ev.at_min + ev.len_min) * interval '1 minute' AS ev_end
    FROM statusd_demo_history d
    JOIN assets a ON a.id = d.asset_id
    JOIN (SELECT asset_id, row_number() OVER (ORDER BY asset_id) AS rank
          FROM statusd_demo_history) r ON r.asset_id = d.asset_id
    LEFT JOIN (VALUES
        (1, 'DOWN', 3, 9 * 60 + 12, 47, 'HTTP 503 Service Unavailable', true),
        (2, 'DOWN', 9, 21 * 60 + 40, 12, 'connection refused', false),
        (3, 'DEGRADED', 5, 2 * 60, 90, NULL, false),
        (4, 'MAINTENANCE', 6, 60, 120, NULL, false))
        AS ev(rank, state, days_back, at_min, len_min, summary, ack) ON ev.rank = r.rank;

    -- the intervals: UP, then the event, then UP again (or UP throughout)
    INSERT INTO asset_state_intervals (asset_id, state, started_at, ended_at)
    SELECT asset_id, st, s, e FROM (
        SELECT asset_id, 'UP' AS st, seeded_from AS s, COALESCE(ev_start, seeded_until) AS e
            FROM demo_ev
        UNION ALL SELECT asset_id, state, ev_start, ev_end FROM demo_ev WHERE state IS NOT NULL
        UNION ALL SELECT asset_id, 'UP', ev_end, seeded_until FROM demo_ev
            WHERE state IS NOT NULL) x
    WHERE e > s;

    -- the outages' incidents (resolved), with their events
    WITH inc AS (
        INSERT INTO incidents (asset_id, severity, summary, started_at, detected_at, ended_at,
                               acknowledged_at, details)
        SELECT asset_id, 'critical',
               name || ' is DOWN from 2 of 2 locations (2/2 agents fail): ' || summary
                   || ' (demo data)',
               ev_start, ev_start + interval '20 seconds', ev_end,
               CASE WHEN ack THEN ev_start + interval '6 minutes' END, '[{"demo": true}]'
        FROM demo_ev WHERE state = 'DOWN'
        RETURNING id, started_at, ended_at, acknowledged_at)
    INSERT INTO incident_events (incident_id, at, kind, detail)
    SELECT id, started_at, 'opened', '{"demo": true}'::jsonb FROM inc
    UNION ALL SELECT id, acknowledged_at, 'acknowledged', '{"demo": true}' FROM inc
        WHERE acknowledged_at IS NOT NULL
    UNION ALL SELECT id, ended_at, 'resolved', '{"demo": true}' FROM inc;

    -- the rollups of the complete demo buckets, from the intervals above (as the collector's
    -- upkeep builds them), with made-up probe counts and latencies (an asset's own base
    -- latency, higher in the afternoon)
    INSERT INTO asset_rollups (asset_id, period, bucket, location, samples, successes,
                               latency_p50, latency_p95, latency_p99, up_seconds,
                               degraded_seconds, down_seconds, maintenance_seconds,
                               unknown_seconds)
    SELECT b.asset_id, b.period, b.bucket, '',
           b.samples, round(b.samples * (1 - st.down / b.len))::int,
           round((b.base * (1 + 0.25 * sin(extract(hour FROM b.bucket AT TIME ZONE 'UTC') / 24.0
                  * 2 * pi())) * CASE WHEN st.degraded > 0 THEN 4 ELSE 1 END)::numeric, 1),
           round((b.base * 2.2 * CASE WHEN st.degraded > 0 THEN 4 ELSE 1 END)::numeric, 1),
           round((b.base * 3.1 * CASE WHEN st.degraded > 0 THEN 4 ELSE 1 END)::numeric, 1),
           st.up, st.degraded, st.down, st.maintenance, 0
    FROM (SELECT d.asset_id, p.period, p.len, g.bucket,
                 (p.len / GREATEST(a.interval_seconds, 1)
                    * GREATEST(COALESCE(cardinality(a.locations), 2), 1))::int AS samples,
                 20 + abs(hashtext(d.asset_id)) % 80 AS base
          FROM statusd_demo_history d
          JOIN assets a ON a.id = d.asset_id
          CROSS JOIN (VALUES ('hour', 3600.0::float8), ('day', 86400.0::float8)) AS p(period, len)
          CROSS JOIN LATERAL generate_series(d.seeded_from,
              d.seeded_until - p.len * interval '1 second',
              p.len * interval '1 second') AS g(bucket)) b
    CROSS JOIN LATERAL (
        SELECT COALESCE(sum(secs) FILTER (WHERE i.state = 'UP'), 0) AS up,
               COALESCE(sum(secs) FILTER (WHERE i.state = 'DEGRADED'), 0) AS degraded,
               COALESCE(sum(secs) FILTER (WHERE i.state = 'DOWN'), 0) AS down,
               COALESCE(sum(secs) FILTER (WHERE i.state = 'MAINTENANCE'), 0) AS maintenance
        FROM asset_state_intervals i,
        LATERAL (SELECT extract(epoch FROM LEAST(i.ended_at, b.bucket + b.len * interval '1 second')
                                - GREATEST(i.started_at, b.bucket))::float8 AS secs) s
        WHERE i.asset_id = b.asset_id AND i.ended_at IS NOT NULL
          AND i.started_at < b.bucket + b.len * interval '1 second' AND i.ended_at > b.bucket) st
    ON CONFLICT (asset_id, period, bucket, location) DO NOTHING;

    -- the collector's upkeep goes on from the hour and the day in which the real history
    -- began (read from the raw intervals until it has built them; it builds the hour before
    -- the watermark again, from the intervals: the same seconds, no latencies)
    INSERT INTO rollup_watermarks (period, built_until)
    SELECT p, date_trunc(p, min(seeded_until), 'UTC')
    FROM statusd_demo_history,
           (VALUES ('hour'), ('day')) AS v(p)
    GROUP BY p HAVING count(*) > 0
    ON CONFLICT (period) DO UPDATE
        SET built_until = GREATEST(rollup_watermarks.built_until, EXCLUDED.built_until);

    RAISE NOTICE 'demo data: seeded % asset(s)', (SELECT count(*) FROM statusd_demo_history);
END
$$;
COMMIT;
\endif
