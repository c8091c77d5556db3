/* agent_keys: the directory of admitted agent certificates (see agent_keys.h). */
#include "agent_keys.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sd_cert.h"

typedef struct {
    agent_key_t pub;
    char *name, *region, *file;
    bool conflict;
} entry_t;

struct agent_keys {
    char *dir;
    zhashx_t *by_key; /* Z85 public key -> entry_t (owned) */
    uint64_t signature;
    bool loaded;
};

static void s_entry_free(void **item)
{
    entry_t *e = *item;
    if (!e)
        return;
    free(e->name);
    free(e->region);
    free(e->file);
    free(e);
    *item = NULL;
}

static zhashx_t *s_table(void)
{
    zhashx_t *t = zhashx_new();
    if (t)
        zhashx_set_destructor(t, s_entry_free);
    return t;
}

agent_keys_t *agent_keys_new(const char *dir)
{
    agent_keys_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->dir = strdup(dir ? dir : "");
    self->by_key = s_table();
    if (!self->dir || !self->by_key)
        agent_keys_destroy(&self);
    return self;
}

void agent_keys_destroy(agent_keys_t **p)
{
    if (!p || !*p)
        return;
    zhashx_destroy(&(*p)->by_key);
    free((*p)->dir);
    free(*p);
    *p = NULL;
}

static bool s_is_cert_file(const char *n)
{
    size_t len = strlen(n);
    return n[0] != '.' && len > 5 && strcmp(n + len - 5, ".cert") == 0;
}

static uint64_t s_mix(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL; /* FNV-1a */
    return h;
}

static int s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The sorted *.cert names in dir (at most AGENT_KEYS_MAX) and the signature of their
 * names, sizes, inodes and modification times. -errno when dir cannot be read. */
static int s_scan(const char *dir, char ***names, size_t *n, uint64_t *sig)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    size_t cap = 0;
    *names = NULL;
    *n = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) && *n < AGENT_KEYS_MAX) {
        if (!s_is_cert_file(de->d_name))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(*names, cap * sizeof *grown);
            if (!grown) {
                rc = -ENOMEM;
                break;
            }
            *names = grown;
        }
        if (!((*names)[*n] = strdup(de->d_name))) {
            rc = -ENOMEM;
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(*names, *n, sizeof **names, s_cmp);
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < *n && rc == 0; i++) {
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, (*names)[i]);
        h = s_mix(h, (*names)[i], strlen((*names)[i]) + 1);
        if (stat(path, &st) == 0) {
            int64_t v[4] = {(int64_t) st.st_size, (int64_t) st.st_ino,
                            (int64_t) st.st_mtim.tv_sec, (int64_t) st.st_mtim.tv_nsec};
            h = s_mix(h, v, sizeof v);
        }
    }
    *sig = h;
    return rc;
}

static void s_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Adds the certificate of one file to t; false (with err) when it is not usable. */
static bool s_add(zhashx_t *t, const char *dir, const char *file, char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    zcert_t *cert = NULL;
    if (sd_cert_load_public(path, &cert, err, errlen) != 0)
        return false;
    const char *name = sd_cert_meta(cert, "name"), *region = sd_cert_meta(cert, "region");
    bool ok = false;
    if (!sd_cert_name_valid(name, false) || !sd_cert_name_valid(region, true)) {
        snprintf(err, errlen, "%.300s: metadata name (1..%d of A-Z a-z 0-9 . _ - @ :) missing or "
                 "invalid, or region invalid", path, SD_CERT_MAX_NAME);
    } else {
        entry_t *old = zhashx_lookup(t, zcert_public_txt(cert));
        if (old && (strcmp(old->name, name) != 0 || strcmp(old->region, region) != 0)) {
            old->conflict = true;
            snprintf(err, errlen, "%.300s: its key is also in %.200s under another name or region: "
                     "neither is admitted", path, old->file);
        } else if (old) {
            ok = true; /* the same key and name twice (a copy): harmless */
        } else {
            entry_t *e = calloc(1, sizeof *e);
            if (e && (e->name = strdup(name)) && (e->region = strdup(region)) &&
                (e->file = strdup(file))) {
                e->pub = (agent_key_t){e->name, e->region, e->file};
                zhashx_insert(t, zcert_public_txt(cert), e);
                ok = true;
            } else {
                void *item = e;
                s_entry_free(&item);
                snprintf(err, errlen, "%.300s: out of memory", path);
            }
        }
    }
    zcert_destroy(&cert);
    return ok;
}

/* true when a and b admit the same keys under the same names and regions */
static bool s_same(zhashx_t *a, zhashx_t *b)
{
    if (zhashx_size(a) != zhashx_size(b))
        return false;
    for (entry_t *e = zhashx_first(a); e; e = zhashx_next(a)) {
        entry_t *o = zhashx_lookup(b, zhashx_cursor(a));
        if (!o || o->conflict != e->conflict || strcmp(o->name, e->name) != 0 ||
            strcmp(o->region, e->region) != 0)
            return false;
    }
    return true;
}

int agent_keys_reload(agent_keys_t *self, size_t *skipped, char *err, size_t errlen)
{
    *skipped = 0;
    if (errlen)
        err[0] = '\0';
    char **names = NULL;
    size_t n = 0;
    uint64_t sig = 0;
    int rc = s_scan(self->dir, &names, &n, &sig);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", self->dir, strerror(-rc));
        s_free_names(names, n);
        return rc;
    }
    if (self->loaded && sig == self->signature) {
        s_free_names(names, n);
        return 0;
    }
    zhashx_t *t = s_table();
    if (!t) {
        s_free_names(names, n);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    char why[1024];
    for (size_t i = 0; i < n; i++) {
        if (!s_add(t, self->dir, names[i], why, sizeof why)) {
            if (*skipped == 0)
                snprintf(err, errlen, "%s", why);
            (*skipped)++;
        }
    }
    s_free_names(names, n);
    bool changed = !self->loaded || !s_same(t, self->by_key);
    zhashx_destroy(&self->by_key);
    self->by_key = t;
    self->signature = sig;
    self->loaded = true;
    return changed ? 1 : 0;
}

const agent_key_t *agent_keys_lookup(const agent_keys_t *self, const char *public_z85)
{
    entry_t *e = public_z85 ? zhashx_lookup(self->by_key, public_z85) : NULL;
    return e && !e->conflict ? &e->pub : NULL;
}

size_t agent_keys_count(const agent_keys_t *self)
{
    size_t n = 0;
    for (entry_t *e = zhashx_first(self->by_key); e; e = zhashx_next(self->by_key))
        n += !e->conflict;
    return n;
}
