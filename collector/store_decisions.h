/* store_decisions: the engine_decisions table, the keys of the alert engine's decisions
 * already written (see engine_journal.c). Library code: 0/-errno with a message in err,
 * never logs. */
#ifndef STORE_DECISIONS_H
#define STORE_DECISIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Inside the decision's transaction: *found = whether key was written before, and then
 * *incident_id = the incident it recorded (0 none). 0 or -EIO. */
int store_decisions_lookup(store_t *s, const char *key, bool *found, int64_t *incident_id,
                           char *err, size_t errlen);
/* Inside the decision's transaction: records key (incident_id 0: none). 0 or -EIO. */
int store_decisions_record(store_t *s, const char *key, int64_t incident_id, char *err,
                           size_t errlen);
/* Deletes keys written more than max_age_ms ago; *deleted (may be NULL) counts them.
 * 0 or -EIO. */
int store_decisions_prune(store_t *s, int64_t max_age_ms, int64_t *deleted, char *err,
                          size_t errlen);

#endif
