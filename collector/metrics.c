/* metrics: the Prometheus registry. One mutex guards everything; a hash table maps
 * (name, canonical label key) to a series, each family keeps its own series array for
 * rendering. Families are kept sorted by name; series are sorted at render time. */
#include "metrics.h"

#include "sd_utf8.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DROPPED_NAME "statusd_metrics_series_dropped_total"
#define DROPPED_HELP "Series not created because the registry was at its bound."
#define MAX_LABEL_PAIRS 16

typedef struct family family_t;

typedef struct series {
    family_t *fam;
    char *key;           /* canonical: label pairs sorted by key, length-prefixed */
    char **labels;       /* key, value, key, value ... in the order first given */
    size_t n_pairs;
    double value;
    size_t index;        /* position in fam->series */
    uint64_t hash;
    struct series *next; /* hash chain */
} series_t;

struct family {
    char *name;
    char *help;
    metric_type_t type;
    series_t **series;
    size_t n, cap;
};

struct metrics_t {
    pthread_mutex_t lock;
    family_t **fams; /* sorted by name */
    size_t n_fams, cap_fams;
    series_t **buckets;
    size_t n_buckets;
    size_t n_series; /* bounded ones; the dropped counter is not counted */
    size_t max_series;
    uint64_t dropped;
    uint64_t gen; /* bumped on every removal and bound change: metrics_handle_t validity */
};

/* --- names and keys ------------------------------------------------------- */

static bool s_valid_metric_name(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool s_valid_label_name(const char *s)
{
    if (!s || !*s || strncmp(s, "__", 2) == 0)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool s_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Counts label pairs; -1 when the set is malformed (bad name, duplicate key, NULL value,
 * too many pairs). */
static int s_count_pairs(const char *const *labels)
{
    if (!labels)
        return 0;
    int n = 0;
    for (; labels[2 * n]; n++) {
        if (n >= MAX_LABEL_PAIRS || !s_valid_label_name(labels[2 * n]) || !labels[2 * n + 1])
            return -1;
        for (int j = 0; j < n; j++)
            if (strcmp(labels[2 * j], labels[2 * n]) == 0)
                return -1;
    }
    return n;
}

/* Label values made valid UTF-8 of at most METRICS_LABEL_VALUE_MAX bytes (sd_utf8, "…" when
 * cut): Prometheus refuses a whole scrape for one invalid label value. The values are taken
 * from labels, or from copies made in owned[] (free with s_labels_free); every lookup goes
 * through here too, so a value names the same series when set and when removed. */
typedef struct {
    const char *v[2 * MAX_LABEL_PAIRS + 1];
    char *owned[MAX_LABEL_PAIRS];
    int n_owned;
} labels_t;

static void s_labels_free(labels_t *l)
{
    for (int i = 0; i < l->n_owned; i++)
        free(l->owned[i]);
    l->n_owned = 0;
}

static const char *const *s_labels_fix(const char *const *labels, int n, labels_t *out)
{
    out->n_owned = 0;
    if (!labels)
        return NULL;
    bool copy = false;
    for (int i = 0; i < n && !copy; i++) {
        const char *v = labels[2 * i + 1];
        size_t len = strlen(v);
        copy = len > METRICS_LABEL_VALUE_MAX || !sd_utf8_valid(v, len);
    }
    if (!copy)
        return labels;
    for (int i = 0; i < n; i++) {
        const char *v = labels[2 * i + 1];
        size_t len = strlen(v);
        out->v[2 * i] = labels[2 * i];
        out->v[2 * i + 1] = v;
        if (len > METRICS_LABEL_VALUE_MAX || !sd_utf8_valid(v, len)) {
            char *f = sd_utf8_dup(v, len, METRICS_LABEL_VALUE_MAX, SD_UTF8_ELLIPSIS);
            if (!f) {
                s_labels_free(out);
                return NULL;
            }
            out->owned[out->n_owned++] = f;
            out->v[2 * i + 1] = f;
        }
    }
    out->v[2 * n] = NULL;
    return out->v;
}

/* The canonical key: pairs sorted by label name, each part length-prefixed so no value
 * can collide with another set. */
static char *s_canonical_key(const char *const *labels, int n)
{
    int order[MAX_LABEL_PAIRS];
    size_t len = 1;
    for (int i = 0; i < n; i++) {
        order[i] = i;
        len += strlen(labels[2 * i]) + strlen(labels[2 * i + 1]) + 44;
    }
    for (int i = 1; i < n; i++) /* insertion sort: n is tiny */
        for (int j = i; j > 0 && strcmp(labels[2 * order[j - 1]], labels[2 * order[j]]) > 0; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    char *key = malloc(len);
    if (!key)
        return NULL;
    size_t off = 0;
    key[0] = 0;
    for (int i = 0; i < n; i++) {
        const char *k = labels[2 * order[i]], *v = labels[2 * order[i] + 1];
        off += (size_t) snprintf(key + off, len - off, "%zu:%s%zu:%s", strlen(k), k, strlen(v), v);
    }
    return key;
}

static uint64_t s_hash(const char *name, const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char) *p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char) *p) * 1099511628211ULL;
    return h;
}

/* --- families ------------------------------------------------------------- */

static size_t s_family_pos(metrics_t *m, const char *name, bool *found)
{
    size_t lo = 0, hi = m->n_fams;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->fams[mid]->name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static family_t *s_family_find(metrics_t *m, const char *name)
{
    bool found;
    size_t pos = s_family_pos(m, name, &found);
    return found ? m->fams[pos] : NULL;
}

static family_t *s_family_get(metrics_t *m, const char *name, const char *help,
                              metric_type_t type)
{
    bool found;
    size_t pos = s_family_pos(m, name, &found);
    if (found) {
        family_t *f = m->fams[pos];
        assert(f->type == type && "one metric name used with two types");
        return f->type == type ? f : NULL;
    }
    if (m->n_fams == m->cap_fams) {
        size_t cap = m->cap_fams ? m->cap_fams * 2 : 32;
        family_t **nf = realloc(m->fams, cap * sizeof *nf);
        if (!nf)
            return NULL;
        m->fams = nf;
        m->cap_fams = cap;
    }
    family_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->type = type;
    if (!f->name || !f->help) {
        free(f->name);
        free(f->help);
        free(f);
        return NULL;
    }
    memmove(&m->fams[pos + 1], &m->fams[pos], (m->n_fams - pos) * sizeof *m->fams);
    m->fams[pos] = f;
    m->n_fams++;
    return f;
}

/* --- series --------------------------------------------------------------- */

static void s_series_free(series_t *s)
{
    free(s); /* the key, label array and strings live in the same block */
}

static series_t *s_series_lookup(metrics_t *m, family_t *f, const char *key, uint64_t h)
{
    for (series_t *s = m->buckets[h % m->n_buckets]; s; s = s->next)
        if (s->hash == h && s->fam == f && strcmp(s->key, key) == 0)
            return s;
    return NULL;
}

static void s_rehash(metrics_t *m)
{
    size_t nb = m->n_buckets * 2;
    series_t **b = calloc(nb, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < m->n_buckets; i++) {
        series_t *s = m->buckets[i];
        while (s) {
            series_t *next = s->next;
            s->next = b[s->hash % nb];
            b[s->hash % nb] = s;
            s = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->n_buckets = nb;
}

/* One allocation per series: the struct, then its label pointers, then the key and the
 * label strings (a series costs about half of what separate allocations did). key is
 * copied, not kept. */
static series_t *s_series_create(metrics_t *m, family_t *f, const char *const *labels, int n,
                                 const char *key, uint64_t h)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        series_t **ns = realloc(f->series, cap * sizeof *ns);
        if (!ns)
            return NULL;
        f->series = ns;
        f->cap = cap;
    }
    size_t key_len = strlen(key) + 1, strs = 0;
    for (int i = 0; i < 2 * n; i++)
        strs += strlen(labels[i]) + 1;
    size_t ptrs = (size_t) (2 * n + 1) * sizeof(char *);
    series_t *s = malloc(sizeof *s + ptrs + key_len + strs);
    if (!s)
        return NULL;
    memset(s, 0, sizeof *s);
    s->labels = (char **) (s + 1);
    char *p = (char *) s->labels + ptrs;
    s->key = p;
    memcpy(p, key, key_len);
    p += key_len;
    for (int i = 0; i < 2 * n; i++) {
        size_t len = strlen(labels[i]) + 1;
        memcpy(p, labels[i], len);
        s->labels[i] = p;
        p += len;
    }
    s->labels[2 * n] = NULL;
    s->n_pairs = (size_t) n;
    s->fam = f;
    s->hash = h;
    s->index = f->n;
    f->series[f->n++] = s;
    s->next = m->buckets[h % m->n_buckets];
    m->buckets[h % m->n_buckets] = s;
    if (strcmp(f->name, DROPPED_NAME) != 0)
        m->n_series++;
    if (m->n_series > m->n_buckets)
        s_rehash(m);
    return s;
}

static void s_series_unlink(metrics_t *m, series_t *s)
{
    m->gen++;
    series_t **pp = &m->buckets[s->hash % m->n_buckets];
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    family_t *f = s->fam;
    f->series[s->index] = f->series[f->n - 1];
    f->series[s->index]->index = s->index;
    f->n--;
    if (strcmp(f->name, DROPPED_NAME) != 0)
        m->n_series--;
    s_series_free(s);
}

static void s_count_drop(metrics_t *m);

/* The series for (name, labels) in f, labels valid already (s_labels_fix); see
 * s_series_get. */
static series_t *s_series_at(metrics_t *m, family_t *f, const char *name,
                             const char *const *labels, int n)
{
    char *key = s_canonical_key(labels, n);
    if (!key)
        return NULL;
    uint64_t h = s_hash(name, key);
    series_t *s = s_series_lookup(m, f, key, h);
    if (s) {
        free(key);
        return s;
    }
    if (strcmp(name, DROPPED_NAME) != 0 && m->n_series >= m->max_series) {
        free(key);
        s_count_drop(m);
        return NULL;
    }
    s = s_series_create(m, f, labels, n, key, h);
    free(key);
    return s;
}

/* The series for (name, labels), created at 0 when absent and under the bound; NULL when
 * it cannot be had. Called with the lock held. */
static series_t *s_series_get(metrics_t *m, const char *name, const char *help,
                              metric_type_t type, const char *const *labels)
{
    int n = s_count_pairs(labels);
    if (!s_valid_metric_name(name) || n < 0) {
        assert(!"invalid metric name or label set");
        return NULL;
    }
    family_t *f = s_family_get(m, name, help, type);
    if (!f)
        return NULL;
    labels_t fixed;
    const char *const *l = s_labels_fix(labels, n, &fixed);
    series_t *s = n == 0 || l ? s_series_at(m, f, name, l, n) : NULL;
    s_labels_free(&fixed);
    return s;
}

static void s_count_drop(metrics_t *m)
{
    m->dropped++;
    series_t *s = s_series_get(m, DROPPED_NAME, DROPPED_HELP, METRIC_COUNTER, NULL);
    if (s)
        s->value += 1;
}

/* --- public --------------------------------------------------------------- */

metrics_t *metrics_new(void)
{
    metrics_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->n_buckets = 1024;
    m->buckets = calloc(m->n_buckets, sizeof *m->buckets);
    m->max_series = METRICS_MAX_SERIES_DEFAULT;
    m->gen = 1; /* a zeroed handle is stale */
    if (!m->buckets || pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m->buckets);
        free(m);
        return NULL;
    }
    /* always present, so a scrape shows 0 rather than nothing */
    if (!s_series_get(m, DROPPED_NAME, DROPPED_HELP, METRIC_COUNTER, NULL)) {
        metrics_destroy(&m);
        return NULL;
    }
    return m;
}

void metrics_destroy(metrics_t **mp)
{
    if (!mp || !*mp)
        return;
    metrics_t *m = *mp;
    for (size_t i = 0; i < m->n_fams; i++) {
        family_t *f = m->fams[i];
        for (size_t j = 0; j < f->n; j++)
            s_series_free(f->series[j]);
        free(f->series);
        free(f->name);
        free(f->help);
        free(f);
    }
    free(m->fams);
    free(m->buckets);
    pthread_mutex_destroy(&m->lock);
    free(m);
    *mp = NULL;
}

void metrics_set(metrics_t *m, const char *name, const char *help, const char *const *labels,
                 double value)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    series_t *s = s_series_get(m, name, help, METRIC_GAUGE, labels);
    if (s)
        s->value = value;
    pthread_mutex_unlock(&m->lock);
}

void metrics_set_cached(metrics_t *m, metrics_handle_t *h, const char *name, const char *help,
                        const char *const *labels, double value)
{
    if (!m || !h)
        return;
    pthread_mutex_lock(&m->lock);
    if (h->gen != m->gen) {
        h->series = s_series_get(m, name, help, METRIC_GAUGE, labels);
        h->gen = m->gen;
    }
    if (h->series)
        ((series_t *) h->series)->value = value;
    pthread_mutex_unlock(&m->lock);
}

void metrics_add(metrics_t *m, const char *name, const char *help, const char *const *labels,
                 double delta)
{
    if (!m)
        return;
    assert(s_ends_with(name, "_total") && "counter names end in _total");
    assert(delta >= 0 && "a counter only goes up");
    if (!s_ends_with(name, "_total") || !(delta >= 0))
        return;
    pthread_mutex_lock(&m->lock);
    series_t *s = s_series_get(m, name, help, METRIC_COUNTER, labels);
    if (s)
        s->value += delta;
    pthread_mutex_unlock(&m->lock);
}

void metrics_remove(metrics_t *m, const char *name, const char *const *labels)
{
    if (!m || !name)
        return;
    int n = s_count_pairs(labels);
    if (n < 0)
        return;
    labels_t fixed;
    labels = s_labels_fix(labels, n, &fixed);
    pthread_mutex_lock(&m->lock);
    family_t *f = s_family_find(m, name);
    char *key = f && (n == 0 || labels) ? s_canonical_key(labels, n) : NULL;
    if (key) {
        series_t *s = s_series_lookup(m, f, key, s_hash(name, key));
        if (s)
            s_series_unlink(m, s);
    }
    free(key);
    pthread_mutex_unlock(&m->lock);
    s_labels_free(&fixed);
}

void metrics_remove_matching(metrics_t *m, const char *name, const char *key, const char *value)
{
    if (!m || !name || !key || !value)
        return;
    const char *pair[3] = {key, value, NULL};
    labels_t fixed;
    const char *const *l = s_labels_fix(pair, 1, &fixed);
    if (!l)
        return;
    value = l[1];
    pthread_mutex_lock(&m->lock);
    family_t *f = s_family_find(m, name);
    for (size_t i = 0; f && i < f->n;) {
        series_t *s = f->series[i];
        bool match = false;
        for (size_t j = 0; j < s->n_pairs; j++)
            if (strcmp(s->labels[2 * j], key) == 0 && strcmp(s->labels[2 * j + 1], value) == 0)
                match = true;
        if (match)
            s_series_unlink(m, s); /* the last series moved into slot i */
        else
            i++;
    }
    pthread_mutex_unlock(&m->lock);
    s_labels_free(&fixed);
}

void metrics_set_max_series(metrics_t *m, size_t max_series)
{
    pthread_mutex_lock(&m->lock);
    m->max_series = max_series;
    m->gen++;
    pthread_mutex_unlock(&m->lock);
}

uint64_t metrics_series_dropped(metrics_t *m)
{
    pthread_mutex_lock(&m->lock);
    uint64_t d = m->dropped;
    pthread_mutex_unlock(&m->lock);
    return d;
}

size_t metrics_series_count(metrics_t *m)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->n_series;
    pthread_mutex_unlock(&m->lock);
    return n;
}

/* --- rendering ------------------------------------------------------------ */

typedef struct {
    char *p;
    size_t len, cap;
    bool failed;
} buf_t;

static void s_put(buf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void s_puts(buf_t *b, const char *s)
{
    s_put(b, s, strlen(s));
}

/* Escapes backslash and newline, and the double quote too inside label values. */
static void s_put_escaped(buf_t *b, const char *s, bool quote)
{
    const char *run = s;
    for (const char *p = s; *p; p++) {
        const char *rep = NULL;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '\n')
            rep = "\\n";
        else if (*p == '"' && quote)
            rep = "\\\"";
        if (rep) {
            s_put(b, run, (size_t) (p - run));
            s_puts(b, rep);
            run = p + 1;
        }
    }
    s_puts(b, run);
}

/* Integers print as integers, other values with the shortest %g that reads back exactly,
 * and the specials as Prometheus spells them. */
static void s_format_value(double v, char *out, size_t len)
{
    if (isnan(v))
        snprintf(out, len, "NaN");
    else if (isinf(v))
        snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
    else if (v == 0)
        snprintf(out, len, "0");
    else if (v == trunc(v) && fabs(v) < 1e15)
        snprintf(out, len, "%.0f", v);
    else {
        snprintf(out, len, "%.15g", v);
        if (strtod(out, NULL) != v)
            snprintf(out, len, "%.17g", v);
    }
}

static int s_series_cmp(const void *a, const void *b)
{
    const series_t *x = *(series_t *const *) a, *y = *(series_t *const *) b;
    size_t n = x->n_pairs < y->n_pairs ? x->n_pairs : y->n_pairs;
    for (size_t i = 0; i < 2 * n; i++) {
        int c = strcmp(x->labels[i], y->labels[i]);
        if (c)
            return c;
    }
    if (x->n_pairs != y->n_pairs)
        return x->n_pairs < y->n_pairs ? -1 : 1;
    return strcmp(x->key, y->key);
}

static void s_render_family(buf_t *b, family_t *f, series_t **tmp)
{
    s_puts(b, "# HELP ");
    s_puts(b, f->name);
    s_puts(b, " ");
    s_put_escaped(b, f->help, false);
    s_puts(b, "\n# TYPE ");
    s_puts(b, f->name);
    s_puts(b, f->type == METRIC_COUNTER ? " counter\n" : " gauge\n");
    memcpy(tmp, f->series, f->n * sizeof *tmp);
    qsort(tmp, f->n, sizeof *tmp, s_series_cmp);
    for (size_t i = 0; i < f->n; i++) {
        series_t *s = tmp[i];
        s_puts(b, f->name);
        if (s->n_pairs) {
            s_puts(b, "{");
            for (size_t j = 0; j < s->n_pairs; j++) {
                if (j)
                    s_puts(b, ",");
                s_puts(b, s->labels[2 * j]);
                s_puts(b, "=\"");
                s_put_escaped(b, s->labels[2 * j + 1], true);
                s_puts(b, "\"");
            }
            s_puts(b, "}");
        }
        char num[40];
        s_format_value(s->value, num, sizeof num);
        s_puts(b, " ");
        s_puts(b, num);
        s_puts(b, "\n");
    }
}

char *metrics_render(metrics_t *m)
{
    if (!m)
        return NULL;
    buf_t b = {0};
    s_puts(&b, ""); /* an empty registry renders as "" rather than NULL */
    pthread_mutex_lock(&m->lock);
    size_t most = 0;
    for (size_t i = 0; i < m->n_fams; i++)
        if (m->fams[i]->n > most)
            most = m->fams[i]->n;
    series_t **tmp = malloc((most ? most : 1) * sizeof *tmp);
    if (!tmp)
        b.failed = true;
    for (size_t i = 0; tmp && i < m->n_fams; i++)
        if (m->fams[i]->n)
            s_render_family(&b, m->fams[i], tmp);
    pthread_mutex_unlock(&m->lock);
    free(tmp);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
