/* health: how each part of the collector is doing, for /api/health, /metrics and the dead
 * man's switch. Thread-safe: every actor reports from its own thread.
 *
 * A part is healthy while
 *   - its loop went round within stuck_ms (parts registered with HEALTH_LOOP beat at least
 *     once a second, so a part blocked in a call, e.g. waiting on a database lock, is
 *     "stuck"), and
 *   - it wrote to the database successfully within db_ms (parts registered with
 *     HEALTH_WRITES; each writes a heartbeat row every health_write_interval_ms, so an
 *     idle part proves it can write too): otherwise it is "db_failing", with the error.
 * The result pipeline is healthy unless results handed from ingest to the engine wait
 * with no progress for stuck_ms, or the engine evaluated a batch within the last stuck_ms
 * that had waited longer than stuck_ms ("lagging"): results stored but not judged.
 * The collector is healthy when every part and the pipeline are. */
#ifndef HEALTH_H
#define HEALTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "sd_clock.h"

#define HEALTH_STUCK_MS_DEFAULT 30000
#define HEALTH_DB_MS_DEFAULT 30000
#define HEALTH_MAX_PARTS 16

enum { HEALTH_LOOP = 1u << 0, HEALTH_WRITES = 1u << 1 };

typedef struct health_t health_t;

/* stuck_ms, db_ms <= 0: the defaults. NULL on allocation failure. */
health_t *health_new(int stuck_ms, int db_ms);
void health_destroy(health_t **h);

/* Registers a part (name: static string) as of now; registering it again resets it.
 * 0, or -ENOSPC past HEALTH_MAX_PARTS. */
int health_register(health_t *h, const char *part, unsigned flags);
/* The part's loop went round now. Unknown parts are ignored (so are NULL h). */
void health_beat(health_t *h, const char *part);
/* The part wrote to the database successfully now. */
void health_db_ok(health_t *h, const char *part);
/* A database write of the part failed; err (any bytes; made valid and bounded here) is
 * reported while the part has not written for db_ms. */
void health_db_failed(health_t *h, const char *part, const char *err);
/* How often a HEALTH_WRITES part writes its heartbeat row: a quarter of db_ms, 1 s .. 5 s. */
int health_write_interval_ms(const health_t *h);

/* Ingest handed pipeline message n (1, 2, ... in order) to the engine. */
void health_results_forwarded(health_t *h, uint64_t n);
/* The engine evaluated message n, which ingest forwarded at monotonic forwarded_at. */
void health_results_evaluated(health_t *h, uint64_t n, sd_ms_t forwarded_at);

/* Failed upkeeps in a row (partitions, retention, rollups) from which the collector is
 * unhealthy: the upkeep runs hourly and again 5 minutes after a failure, so a second failure
 * means about 5 minutes of retried failure, not one passing glitch. */
#define HEALTH_UPKEEP_FAILURES 2

/* The hourly upkeep ran: ok, or failed with err (any bytes; made valid and bounded here).
 * HEALTH_UPKEEP_FAILURES failures in a row make the collector unhealthy ("upkeep" in the
 * unhealthy list, the "upkeep" object of the report) until one succeeds: rollups not built
 * mean stale uptime figures, retention not run means a growing database, both silent. */
void health_upkeep(health_t *h, bool ok, const char *err);

/* The configuration's last load (start or reload, reload.h): ok, the generation in use, and
 * the refusal (any bytes; made valid and bounded here; NULL when ok). Reported in the
 * report's "config" object; a refused reload never makes the collector unhealthy (the
 * previous configuration stays in use), it is a warning there. */
void health_config(health_t *h, bool ok, uint64_t generation, const char *err);

/* Judges everything at monotonic now. True when healthy. *report (when report is not NULL)
 * receives a new JSON object: {"status": "healthy"|"unhealthy", "unhealthy": [part names],
 * "parts": {name: {"status": "ok"|"stuck"|"db_failing", "reason": text,
 * "heartbeat_age_seconds", "last_db_write_age_seconds"}}, "results": {"status", "pending",
 * "lag_seconds"},
 * "config": {"status": "ok"|"reload_failed", "generation", "error" (when failed)}}; "config"
 * only once health_config was called. */
bool health_check(health_t *h, sd_ms_t now, json_t **report);

/* Sets statusd_actor_heartbeat_timestamp_seconds{actor},
 * statusd_actor_last_db_write_timestamp_seconds{actor}, statusd_actor_healthy{actor},
 * statusd_collector_healthy, statusd_engine_results_pending and
 * statusd_engine_results_lag_seconds in m. */
void health_export(health_t *h, metrics_t *m);

#endif
