/* store_results: probe results into probe_events with the agent's high-water mark moved in
 * the same transaction. */
#include "store_results.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

/* rows per INSERT statement: 9 parameters each, far below libpq's 65535 */
#define ROWS_PER_STMT 500
#define PARAMS_PER_ROW 9
#define NUMS_PER_ROW 5
#define NUM_LEN 32
/* probe_events.ts accepts up to year 9999 */
#define MAX_UNIX_MS 253402300799999LL
/* A start time further ahead of the collector's clock than this is a broken agent clock:
 * stored as now, so the row lands in a partition that exists (upkeep creates today+2)
 * instead of in the default partition, where it would block creating that day later. */
#define MAX_FUTURE_MS (24LL * 3600 * 1000)
/* probe_events.seq and agents.last_seq are BIGINT */
#define MAX_SEQ ((uint64_t) INT64_MAX)

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t s_utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if ((p[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = p[0] & 0x1F;
    } else if ((p[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = p[0] & 0x0F;
    } else if ((p[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* A malloc'd copy of s with every byte that is not valid UTF-8 replaced by '?'. */
static char *s_utf8_copy(const char *s)
{
    if (!s)
        s = "";
    size_t len = strlen(s);
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0;
    while (i < len) {
        size_t n = s_utf8_len(p + i);
        if (n == 0) {
            out[i++] = '?';
            continue;
        }
        memcpy(out + i, p + i, n);
        i += n;
    }
    out[len] = 0;
    return out;
}

static int64_t s_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* {"dns": 1.234, ...} in milliseconds, or NULL when the result has no phases. */
static char *s_phases_json(const Statusd__ProbeResult *r)
{
    if (r->n_phases == 0)
        return NULL;
    json_t *o = json_object();
    for (size_t i = 0; o && i < r->n_phases; i++) {
        const Statusd__Phase *ph = r->phases[i];
        if (!ph)
            continue;
        char *name = s_utf8_copy(ph->name);
        if (name)
            json_object_set_new(o, name, json_real(ph->duration_us / 1000.0));
        free(name);
    }
    /* microsecond resolution: 0.021, not 0.021000000000000001 */
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(o);
    return s;
}

/* Row strings for one statement; every pointer is owned here. */
typedef struct {
    const char *params[2 + ROWS_PER_STMT * PARAMS_PER_ROW];
    char *owned[ROWS_PER_STMT * 3];
    size_t n_owned;
    char nums[ROWS_PER_STMT][NUMS_PER_ROW][NUM_LEN];
} chunk_t;

static void s_chunk_reset(chunk_t *c)
{
    for (size_t i = 0; i < c->n_owned; i++)
        free(c->owned[i]);
    c->n_owned = 0;
}

static char *s_own(chunk_t *c, char *p)
{
    if (p)
        c->owned[c->n_owned++] = p;
    return p;
}

/* Fills row k's parameters; -ENOMEM on allocation failure. */
static int s_fill_row(chunk_t *c, size_t k, const Statusd__ProbeResult *r, int64_t now_ms)
{
    const char **p = c->params + 2 + k * PARAMS_PER_ROW;
    char(*num)[NUM_LEN] = c->nums[k];
    int64_t ts = r->started_at_ms;
    if (ts <= 0 || ts > MAX_UNIX_MS || ts > now_ms + MAX_FUTURE_MS)
        ts = now_ms;
    p[0] = s_own(c, s_utf8_copy(r->asset_id));
    if (!p[0])
        return -ENOMEM;
    snprintf(num[0], NUM_LEN, "%" PRIu64, r->seq);
    p[1] = num[0];
    snprintf(num[1], NUM_LEN, "%" PRId64, ts);
    p[2] = num[1];
    p[3] = r->success ? "t" : "f";
    snprintf(num[2], NUM_LEN, "%.3f", r->latency_us / 1000.0);
    p[4] = num[2];
    p[5] = NULL;
    if (r->status_code != 0) {
        snprintf(num[3], NUM_LEN, "%" PRId32, r->status_code);
        p[5] = num[3];
    }
    p[6] = NULL;
    if (r->reason && r->reason[0] && !(p[6] = s_own(c, s_utf8_copy(r->reason))))
        return -ENOMEM;
    p[7] = s_own(c, s_phases_json(r));
    p[8] = NULL;
    if (r->cert_expiry_unix > 0 && r->cert_expiry_unix <= MAX_UNIX_MS / 1000) {
        snprintf(num[4], NUM_LEN, "%" PRId64, r->cert_expiry_unix);
        p[8] = num[4];
    }
    return 0;
}

/* INSERT of rows [from, to) of the accepted list; 0 or -errno. */
static int s_insert_chunk(store_t *s, chunk_t *c, const Statusd__ResultBatch *batch,
                          const size_t *idx, size_t from, size_t to, int64_t now_ms,
                          char *err, size_t errlen)
{
    static const char head[] =
        "INSERT INTO probe_events (asset_id, agent_id, region, seq, ts, success, latency_ms,"
        " code, message, phases, cert_expiry) VALUES ";
    size_t rows = to - from;
    size_t cap = sizeof head + rows * 256;
    char *sql = malloc(cap);
    if (!sql) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    size_t len = (size_t) snprintf(sql, cap, "%s", head);
    int rc = 0;
    for (size_t k = 0; k < rows && rc == 0; k++) {
        rc = s_fill_row(c, k, batch->results[idx[from + k]], now_ms);
        int b = 3 + (int) (k * PARAMS_PER_ROW);
        len += (size_t) snprintf(
            sql + len, cap - len,
            "%s($%d, $1, $2, $%d::bigint, to_timestamp($%d::bigint / 1000.0), $%d::boolean,"
            " $%d::double precision, $%d::integer, $%d, $%d::jsonb, to_timestamp($%d::bigint))",
            k ? "," : "", b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8);
    }
    if (rc) {
        snprintf(err, errlen, "out of memory");
    } else {
        PGresult *r = PQexecParams(store_conn(s), sql, (int) (2 + rows * PARAMS_PER_ROW), NULL,
                                   c->params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            store_set_error(s, "insert probe_events", err, errlen);
            rc = -EIO;
        }
        PQclear(r);
    }
    free(sql);
    s_chunk_reset(c);
    return rc;
}

/* Locks the agent's row (creating it) and returns its last_seq; 0 or -EIO. */
static int s_lock_agent(store_t *s, const char *agent_id, const char *region,
                        uint64_t *last_seq, char *err, size_t errlen)
{
    const char *params[2] = {agent_id, region};
    PGresult *r = PQexecParams(store_conn(s),
                               "INSERT INTO agents (id, region, last_seen, connected)"
                               " VALUES ($1, $2, now(), true)"
                               " ON CONFLICT (id) DO UPDATE SET last_seen = now()"
                               " RETURNING last_seq",
                               2, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        store_set_error(s, "lock agent", err, errlen);
        rc = -EIO;
    } else {
        *last_seq = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    return rc;
}

static int s_set_last_seq(store_t *s, const char *agent_id, uint64_t seq, char *err,
                          size_t errlen)
{
    char num[NUM_LEN];
    snprintf(num, sizeof num, "%" PRIu64, seq);
    const char *params[2] = {agent_id, num};
    PGresult *r = PQexecParams(store_conn(s),
                               "UPDATE agents SET last_seq = $2::bigint WHERE id = $1"
                               " AND last_seq < $2::bigint",
                               2, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        store_set_error(s, "update last_seq", err, errlen);
        rc = -EIO;
    }
    PQclear(r);
    return rc;
}

/* Inserts the accepted results (idx[0..n)) in statements of ROWS_PER_STMT rows. */
static int s_insert_all(store_t *s, const char *agent, const char *region,
                        const Statusd__ResultBatch *batch, const size_t *idx, size_t n,
                        char *err, size_t errlen)
{
    chunk_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->params[0] = agent;
    c->params[1] = region;
    int64_t now_ms = s_now_ms();
    int rc = 0;
    for (size_t from = 0; rc == 0 && from < n; from += ROWS_PER_STMT) {
        size_t to = from + ROWS_PER_STMT < n ? from + ROWS_PER_STMT : n;
        rc = s_insert_chunk(s, c, batch, idx, from, to, now_ms, err, errlen);
    }
    free(c);
    return rc;
}

typedef struct {
    uint64_t seq;
    size_t i;
} s_order_t;

static int s_order_cmp(const void *a, const void *b)
{
    const s_order_t *x = a, *y = b;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Indexes (into idx) of the results to store: seq in (last_seq, MAX_SEQ], each seq once, in
 * ascending seq order whatever the batch order (a result is never skipped only because an
 * out-of-order higher seq came first in the batch). *n_out = how many; *max_seq = the
 * batch's highest seq. 0 or -ENOMEM. */
static int s_accept(const Statusd__ResultBatch *batch, uint64_t last_seq, size_t *idx,
                    size_t *n_out, uint64_t *max_seq)
{
    s_order_t *o = malloc((batch->n_results + 1) * sizeof *o);
    if (!o)
        return -ENOMEM;
    size_t m = 0, n = 0;
    *max_seq = 0;
    for (size_t i = 0; i < batch->n_results; i++) {
        const Statusd__ProbeResult *r = batch->results[i];
        if (!r)
            continue;
        if (r->seq > *max_seq)
            *max_seq = r->seq;
        if (r->seq > last_seq && r->seq <= MAX_SEQ)
            o[m++] = (s_order_t){r->seq, i};
    }
    qsort(o, m, sizeof *o, s_order_cmp);
    for (size_t k = 0; k < m; k++)
        if (k == 0 || o[k].seq != o[k - 1].seq)
            idx[n++] = o[k].i;
    free(o);
    *n_out = n;
    return 0;
}

int store_results_insert(store_t *s, const char *agent_id, const char *region,
                         const Statusd__ResultBatch *batch, size_t *new_idx, size_t *n_new,
                         uint64_t *through_seq, char *err, size_t errlen)
{
    if (!s || !store_conn(s) || !batch || !agent_id)
        return -EINVAL;
    if (batch->n_results > STORE_RESULTS_MAX_BATCH) {
        snprintf(err, errlen, "batch of %zu results exceeds %d", batch->n_results,
                 STORE_RESULTS_MAX_BATCH);
        return -EINVAL;
    }
    char *agent = s_utf8_copy(agent_id);
    char *reg = s_utf8_copy(region);
    size_t *idx = malloc((batch->n_results + 1) * sizeof *idx);
    if (!agent || !reg || !idx) {
        free(agent);
        free(reg);
        free(idx);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    uint64_t last_seq = 0, high = 0, max_seq = 0;
    size_t n = 0;
    int rc = store_begin(s, err, errlen);
    if (rc == 0)
        rc = s_lock_agent(s, agent, reg, &last_seq, err, errlen);
    if (rc == 0) {
        rc = s_accept(batch, last_seq, idx, &n, &max_seq);
        if (rc != 0)
            snprintf(err, errlen, "out of memory");
        else if (n > 0)
            high = batch->results[idx[n - 1]]->seq;
    }
    if (rc == 0)
        rc = s_insert_all(s, agent, reg, batch, idx, n, err, errlen);
    if (rc == 0 && n > 0)
        rc = s_set_last_seq(s, agent, high, err, errlen);
    if (rc == 0)
        rc = store_commit(s, err, errlen);
    if (rc != 0) {
        store_rollback(s);
    } else {
        if (new_idx)
            memcpy(new_idx, idx, n * sizeof *idx);
        if (n_new)
            *n_new = n;
        if (through_seq)
            *through_seq = max_seq;
    }
    free(idx);
    free(agent);
    free(reg);
    return rc;
}
