/* store_health: the collector_heartbeats table (see the health model in health.h). Library
 * code: 0/-errno with a message in err, never logs. */
#ifndef STORE_HEALTH_H
#define STORE_HEALTH_H

#include <stddef.h>

#include "store.h"

/* Upserts the (actor, this host) row with beat_at = now() and this process's pid: one
 * successful write proves the actor can write. 0 or -EIO. */
int store_health_beat(store_t *s, const char *actor, char *err, size_t errlen);

#endif
