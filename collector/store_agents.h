/* store_agents: the agents table (connection state, high-water mark) and the assets
 * table's sync from the manifest. */
#ifndef STORE_AGENTS_H
#define STORE_AGENTS_H

#include <stddef.h>
#include <stdint.h>

#include "sd_config.h"
#include "store.h"

/* Upserts an agent on Hello: region, version, last_seen = now(), connected = true,
 * clock_skew_ms. *last_seq (written on success) = the highest stored seq. 0 or -EIO. */
int store_agents_hello(store_t *s, const char *agent_id, const char *region,
                       const char *version, int64_t clock_skew_ms, uint64_t *last_seq,
                       char *err, size_t errlen);
/* connected = false, last_seen = now() for one agent; 0 or -EIO (0 also when absent). */
int store_agents_disconnected(store_t *s, const char *agent_id, char *err, size_t errlen);
/* connected = false for every agent (collector start). 0 or -EIO. */
int store_agents_all_disconnected(store_t *s, char *err, size_t errlen);

/* Upserts every manifest asset into assets (in_manifest = true) and sets
 * in_manifest = false for rows not in the manifest, in one transaction. 0 or -errno. */
int store_assets_sync(store_t *s, const sd_manifest_t *m, char *err, size_t errlen);

#endif
