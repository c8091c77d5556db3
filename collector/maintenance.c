/* maintenance: see maintenance.h. */
#include "maintenance.h"

#include <czmq.h>
#include <errno.h>
#include <stdlib.h>

#include "store_maintenance.h"

struct maintenance_t {
    zhashx_t *assets;        /* asset ids covered (values unused) */
    bool all;                /* a window covers every asset */
    size_t windows;
};

typedef struct {
    zhashx_t *assets;
    bool all;
    size_t windows;
    int64_t last_window;
} refresh_t;

maintenance_t *maintenance_new(void)
{
    maintenance_t *m = calloc(1, sizeof *m);
    if (m && !(m->assets = zhashx_new()))
        maintenance_destroy(&m);
    return m;
}

void maintenance_destroy(maintenance_t **m)
{
    if (!m || !*m)
        return;
    zhashx_destroy(&(*m)->assets);
    free(*m);
    *m = NULL;
}

int maintenance_sync(store_t *s, const sd_manifest_t *manifest, int64_t now_ms, size_t *rows,
                     char *err, size_t errlen)
{
    return store_maintenance_sync(s, manifest, now_ms - MAINTENANCE_BACK_MS,
                                  now_ms + MAINTENANCE_AHEAD_MS, rows, err, errlen);
}

static void s_active_cb(int64_t window_id, const char *asset_id, void *arg)
{
    refresh_t *r = arg;
    if (window_id != r->last_window) {
        r->windows++;
        r->last_window = window_id;
    }
    if (!asset_id)
        r->all = true;
    else if (r->assets)
        zhashx_insert(r->assets, asset_id, (void *) 1);
}

int maintenance_refresh(maintenance_t *m, store_t *s, char *err, size_t errlen)
{
    refresh_t r = {.assets = zhashx_new(), .last_window = -1};
    if (!r.assets)
        return -ENOMEM;
    int rc = store_maintenance_active(s, s_active_cb, &r, err, errlen);
    if (rc != 0) {
        zhashx_destroy(&r.assets);
        return rc;
    }
    zhashx_destroy(&m->assets);
    m->assets = r.assets;
    m->all = r.all;
    m->windows = r.windows;
    return 0;
}

bool maintenance_covers(const maintenance_t *m, const char *asset_id)
{
    return m && (m->all || (asset_id && zhashx_lookup(m->assets, asset_id)));
}

size_t maintenance_active_windows(const maintenance_t *m) { return m ? m->windows : 0; }
