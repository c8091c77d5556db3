/* store_api: the read queries behind the REST API (it writes nothing: an acknowledgement is
 * store_incidents_ack, a maintenance window store_maintenance_create/_end). Every statement is parameterized;
 * results come back as jansson values the caller owns. Timestamps are RFC 3339 UTC
 * strings ("2026-11-25T08:43:00.123Z"), absent ones JSON null. */
#ifndef STORE_API_H
#define STORE_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Most incidents returned by store_api_incidents(), newest first. */
#define STORE_API_MAX_INCIDENTS 1000

/* Bounds every later statement of this session and of every later one (statement_timeout,
 * kept by the store across reconnections). 0 or -EIO. */
int store_api_session_setup(store_t *s, int statement_timeout_ms);

/* SELECT 1: 0 when the database answers, -EIO otherwise. */
int store_api_health(store_t *s);

/* Assets in the manifest, ordered by id: [{id, name, assetType, address, intervalSeconds,
 * timeoutSeconds, expectedStatusCodes, metadata, locations, state (UP, DEGRADED, DOWN,
 * UNCONFIRMED, UNKNOWN, MAINTENANCE), stateReason (one line, "" when none), stateSince,
 * flapping, flappingSince, maintenance, uptime: {24h, 7d, 30d} (uptime.h: 0..1 or null),
 * results: [{agent, region, success, latencyMs, code, message, ts}]}] where results holds
 * each agent's latest result of the last day (or of 10 intervals when longer).
 * 0 with *out set, or -EIO/-EPROTO with a message in err. */
int store_api_assets(store_t *s, json_t **out, char *err, size_t errlen);
/* One manifest asset as store_api_assets lists it. -ENOENT when no manifest asset has this
 * id. */
int store_api_asset(store_t *s, const char *asset_id, json_t **out, char *err, size_t errlen);

/* The latest limit (1..1000) results of one asset, newest first: [{assetId, agent, region,
 * seq, ts, receivedAt, success, latencyMs, code, message, phases, certExpiry}].
 * -ENOENT when no asset has this id (in the manifest or not). */
int store_api_events(store_t *s, const char *asset_id, int limit, json_t **out, char *err,
                     size_t errlen);

/* Incidents, newest first (at most STORE_API_MAX_INCIDENTS): open ones only, or all.
 * [{id, assetId, severity, summary, startedAt, detectedAt, endedAt, acknowledgedAt,
 * details}]. */
int store_api_incidents(store_t *s, bool open_only, json_t **out, char *err, size_t errlen);
/* The time-weighted uptime of an asset between from_ms and to_ms (unix ms, from < to):
 * uptime_json's figures (uptime.h) plus assetId, from, to and the incidents that overlap
 * the interval ([{id, summary, startedAt, endedAt, acknowledgedAt}], at most 1000), from
 * asset_state_intervals. -ENOENT for an unknown asset, -EIO. */
int store_api_uptime(store_t *s, const char *asset_id, int64_t from_ms, int64_t to_ms,
                     json_t **out, char *err, size_t errlen);
/* The same figures for every manifest asset at once, by id: [{assetId, uptime, upSeconds,
 * degradedSeconds, downSeconds, maintenanceSeconds, unknownSeconds}] (no incidents), read
 * from the rollups for whole built days and hours. 0, -EIO. */
int store_api_uptime_all(store_t *s, int64_t from_ms, int64_t to_ms, json_t **out, char *err,
                         size_t errlen);
/* {"state": ...} of a manifest asset (the status badge). -ENOENT when unknown. */
int store_api_asset_state(store_t *s, const char *asset_id, json_t **out, char *err,
                          size_t errlen);

/* Every agent seen, ordered by id: [{id, region, version, firstSeen, lastSeen, connected,
 * clockSkewMs, up}] where up is false from its AGENT_DOWN until its AGENT_UP. */
int store_api_agents(store_t *s, json_t **out, char *err, size_t errlen);

/* One incident with its timeline: {id, assetId, ..., details, timeline: [{at, kind,
 * detail}]} (every incident_events row, oldest first). -ENOENT when there is none. */
int store_api_incident(store_t *s, int64_t id, json_t **out, char *err, size_t errlen);

/* Maintenance windows not yet over (active and upcoming), by start: [{id, source ("api" |
 * "manifest"), name, assetIds (null = every asset), start, end, reason, createdBy,
 * createdAt, endedEarlyAt, active}] (at most 1000). */
int store_api_maintenance_list(store_t *s, json_t **out, char *err, size_t errlen);
/* One maintenance window as listed above (over or not). -ENOENT when there is none. */
int store_api_maintenance_window(store_t *s, int64_t id, json_t **out, char *err,
                                 size_t errlen);

#endif
