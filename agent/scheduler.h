/* scheduler (sched_*): runs the assigned probes. Each asset runs every interval_ms, start to start without
 * drift; its first run is at the next wall-clock instant where unix_ms % interval_ms ==
 * phase_offset_ms. A probe still running when its next run is due is not started twice
 * (the run is counted as skipped), unless it has run for 2 x its timeout + 1 s: then it is
 * hung, cancelled and reported as a failed result, and a new run starts. A new plan is
 * applied in place: unchanged assets keep their schedule, changed ones are rescheduled,
 * removed ones are cancelled. */
#ifndef SCHEDULER_H
#define SCHEDULER_H

#include "loop.h"
#include "probe.h"
#include "statusd.pb-c.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sched sched_t;

/* Receives each result; the callee owns it. */
typedef void(sched_result_fn)(probe_result_t *r, void *ctx);

typedef struct {
    uint64_t started;      /* probes started */
    uint64_t skipped;      /* due while the previous run was still in flight */
    uint64_t start_failed; /* could not start (reported as a failed result) */
    uint64_t invalid;      /* assets rejected by the last apply (unknown type, bad options) */
    uint64_t hung;         /* runs cancelled at 2 x timeout + 1 s (reported as failures) */
    size_t assets;         /* assets scheduled now */
    size_t in_flight;
} sched_stats_t;

/* A scheduler on env->loop; results go to cb. NULL on ENOMEM. */
sched_t *sched_new(const probe_env_t *env, sched_result_fn *cb, void *ctx);
/* Cancels every run and frees. Accepts NULL. */
void sched_destroy(sched_t **p);
/* Replaces the plan with specs (copied). Assets with an unknown type or invalid options are
 * skipped and counted; the first such problem is described in err (if err != NULL).
 * Returns the number of assets now scheduled, or -ENOMEM. */
int sched_apply(sched_t *self, const probe_spec_t *specs, size_t n, char *err, size_t errlen);
/* sched_apply from the wire message. */
int sched_apply_assignment(sched_t *self, const Statusd__Assignment *a, char *err,
                           size_t errlen);
sched_stats_t sched_stats(const sched_t *self);
/* Times the asset has been started / skipped, for tests; -1 when unknown. */
int64_t sched_asset_starts(const sched_t *self, const char *asset_id);
/* Monotonic time of the asset's next run, or -1. */
sd_ms_t sched_asset_next_due(const sched_t *self, const char *asset_id);

/* Overrides the probe registry lookup (tests). NULL restores probe_find. */
void sched_set_lookup(sched_t *self, const struct probe_ops *(*lookup)(const char *name));

#endif
