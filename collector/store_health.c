/* store_health: heartbeat rows of the collector's parts (see store_health.h). */
#include "store_health.h"

#include <stdio.h>
#include <unistd.h>

int store_health_beat(store_t *s, const char *actor, char *err, size_t errlen)
{
    char host[256] = "", pid[16];
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "unknown");
    snprintf(pid, sizeof pid, "%ld", (long) getpid());
    const char *params[] = {actor, host, pid};
    return store_command(s, "heartbeat",
                         "INSERT INTO collector_heartbeats (actor, host, pid, beat_at)"
                         " VALUES ($1, $2, $3::integer, now())"
                         " ON CONFLICT (actor, host) DO UPDATE"
                         " SET pid = EXCLUDED.pid, beat_at = EXCLUDED.beat_at",
                         3, params, err, errlen);
}
