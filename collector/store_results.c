/* store_results: probe results into probe_events, the one table this file writes; the
 * agent's high-water mark (agents.last_seq, store_agents.c's) moves in the same transaction,
 * which is what makes a batch stored exactly once. The rows go in with one COPY ... FROM STDIN (text format) per batch:
 * PostgreSQL neither parses nor plans a statement per row or per batch, which makes it more
 * than twice as cheap per row as a multi-row INSERT (bench/RESULTS.md). */
#include "store_results.h"

#include "sd_utf8.h"
#include "store_agents.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define NUM_LEN 32
/* probe_events.ts accepts up to year 9999 */
#define MAX_UNIX_MS 253402300799999LL
/* A start time further ahead of the collector's clock than this is a broken agent clock:
 * stored as now, so the row lands in a partition that exists (upkeep creates today+2)
 * instead of in the default partition, where it would block creating that day later. */
#define MAX_FUTURE_MS (24LL * 3600 * 1000)
/* probe_events.seq and agents.last_seq are BIGINT */
#define MAX_SEQ ((uint64_t) INT64_MAX)
/* phases per result written to the phases object (the agent sends at most a handful) */
#define MAX_PHASES 64
/* the longest phase name stored (the agent's are at most 15 bytes) */
#define MAX_PHASE_NAME 64
/* the longest asset id stored (a manifest id has at most 128 characters of ASCII) */
#define MAX_ASSET_ID 128

static int64_t s_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- the COPY text buffer --------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
    bool failed;
} buf_t;

static bool s_reserve(buf_t *b, size_t n)
{
    if (b->failed)
        return false;
    if (b->len + n <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64 * 1024;
    while (cap < b->len + n)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        b->failed = true;
        return false;
    }
    b->p = np;
    b->cap = cap;
    return true;
}

static void s_put(buf_t *b, const char *s, size_t n)
{
    if (s_reserve(b, n)) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

static void s_putc(buf_t *b, char c)
{
    if (s_reserve(b, 1))
        b->p[b->len++] = c;
}

static void s_puts(buf_t *b, const char *s)
{
    s_put(b, s, strlen(s));
}

/* s (NULL = "") made valid UTF-8 of at most max bytes (sd_utf8 with flags), or s itself
 * when it is already; *tmp is the malloc'd copy to free (NULL = none). NULL when memory ran
 * out. With SD_UTF8_ONE_LINE the caller maps control characters itself. */
static const char *s_valid(const char *s, size_t max, unsigned flags, char **tmp)
{
    *tmp = NULL;
    size_t len = s ? strlen(s) : 0;
    if (len <= max && sd_utf8_valid(s, len))
        return s ? s : "";
    *tmp = sd_utf8_dup(s, len, max, flags);
    return *tmp;
}

/* COPY's text format escape for c, or NULL when c stands for itself. */
static const char *s_copy_escape(unsigned char c)
{
    switch (c) {
    case '\\': return "\\\\";
    case '\t': return "\\t";
    case '\n': return "\\n";
    case '\r': return "\\r";
    default: return NULL;
    }
}

static bool s_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* s (NULL = "") as one COPY text field: made valid UTF-8 of at most max bytes (invalid bytes
 * become U+FFFD, a cut falls between characters); with SD_UTF8_ONE_LINE control characters
 * become spaces; backslash, tab, newline and carriage return are escaped. */
static void s_put_text(buf_t *b, const char *s, size_t max, unsigned flags)
{
    char *tmp;
    const unsigned char *p = (const unsigned char *) s_valid(s, max, flags, &tmp);
    if (!p) {
        b->failed = true;
        return;
    }
    bool one_line = flags & SD_UTF8_ONE_LINE;
    while (*p) {
        size_t run = 0; /* bytes that stand for themselves, copied at once */
        while (p[run] && !s_copy_escape(p[run]) && !(one_line && s_control(p[run])))
            run++;
        s_put(b, (const char *) p, run);
        p += run;
        if (!*p)
            break;
        if (one_line && s_control(*p))
            s_putc(b, ' ');
        else
            s_puts(b, s_copy_escape(*p));
        p++;
    }
    free(tmp);
}

/* s as the body of a JSON string (valid UTF-8 of at most max bytes as above; quote,
 * backslash and control characters escaped), written to j (not yet COPY-escaped). */
static void s_put_json_string(buf_t *j, const char *s, size_t max)
{
    char *tmp;
    const unsigned char *p = (const unsigned char *) s_valid(s, max, SD_UTF8_ELLIPSIS, &tmp);
    if (!p) {
        j->failed = true;
        return;
    }
    s_putc(j, '"');
    for (; *p; p++) {
        if (*p == '"' || *p == '\\') {
            s_putc(j, '\\');
            s_putc(j, (char) *p);
        } else if (*p < 0x20) {
            char u[8];
            snprintf(u, sizeof u, "\\u%04x", *p);
            s_puts(j, u);
        } else {
            s_putc(j, (char) *p);
        }
    }
    s_putc(j, '"');
    free(tmp);
}

/* A JSON number for ms with ten significant digits; always with a '.' or an exponent, so
 * whole numbers keep their ".0" as they always had (1.0, not 1). */
static void s_put_json_ms(buf_t *j, double ms)
{
    char num[NUM_LEN];
    snprintf(num, sizeof num, "%.10g", ms);
    s_puts(j, num);
    if (!strpbrk(num, ".eE"))
        s_puts(j, ".0");
}

/* The phases field: {"dns": 1.234, ...} in milliseconds (a later duplicate name wins, as
 * in jsonb), or \N when the result has none. j is a scratch buffer. */
static void s_put_phases(buf_t *b, buf_t *j, const Statusd__ProbeResult *r)
{
    j->len = 0;
    size_t n = 0;
    s_putc(j, '{');
    for (size_t i = 0; i < r->n_phases && i < MAX_PHASES; i++) {
        const Statusd__Phase *ph = r->phases[i];
        if (!ph)
            continue;
        if (n++)
            s_putc(j, ',');
        s_put_json_string(j, ph->name, MAX_PHASE_NAME);
        s_putc(j, ':');
        s_put_json_ms(j, ph->duration_us / 1000.0);
    }
    s_putc(j, '}');
    if (r->n_phases == 0) {
        s_puts(b, "\\N");
        return;
    }
    if (j->failed) {
        b->failed = true;
        return;
    }
    s_putc(j, '\0');
    s_put_text(b, j->p, j->len, 0); /* valid already: only COPY's escapes */
}

/* A timestamptz literal of unix milliseconds, in UTC. */
static void s_put_ts_ms(buf_t *b, int64_t ms)
{
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    char out[48];
    gmtime_r(&t, &tm);
    snprintf(out, sizeof out, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (ms % 1000));
    s_puts(b, out);
}

/* One row: asset_id agent_id region seq ts success latency_ms code message phases
 * cert_expiry. agent and region are already COPY-escaped. */
static void s_put_row(buf_t *b, buf_t *j, const char *agent, const char *region,
                      const Statusd__ProbeResult *r, int64_t now_ms)
{
    char num[NUM_LEN];
    int64_t ts = r->started_at_ms;
    if (ts <= 0 || ts > MAX_UNIX_MS || ts > now_ms + MAX_FUTURE_MS)
        ts = now_ms;
    s_put_text(b, r->asset_id, MAX_ASSET_ID, SD_UTF8_ELLIPSIS);
    s_putc(b, '\t');
    s_puts(b, agent);
    s_putc(b, '\t');
    s_puts(b, region);
    snprintf(num, sizeof num, "\t%" PRIu64 "\t", r->seq);
    s_puts(b, num);
    s_put_ts_ms(b, ts);
    snprintf(num, sizeof num, "\t%c\t%.3f\t", r->success ? 't' : 'f', r->latency_us / 1000.0);
    s_puts(b, num);
    if (r->status_code != 0) {
        snprintf(num, sizeof num, "%" PRId32, r->status_code);
        s_puts(b, num);
    } else {
        s_puts(b, "\\N");
    }
    s_putc(b, '\t');
    if (r->reason && r->reason[0])
        s_put_text(b, r->reason, STORE_RESULTS_REASON_MAX,
                   SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    else
        s_puts(b, "\\N");
    s_putc(b, '\t');
    s_put_phases(b, j, r);
    s_putc(b, '\t');
    if (r->cert_expiry_unix > 0 && r->cert_expiry_unix <= MAX_UNIX_MS / 1000)
        s_put_ts_ms(b, (int64_t) r->cert_expiry_unix * 1000);
    else
        s_puts(b, "\\N");
    s_putc(b, '\n');
}

/* ---- statements ------------------------------------------------------------------------- */

/* Sends the rows with COPY; 0 or -EIO (the transaction is then aborted). */
static int s_copy(store_t *s, const buf_t *rows, char *err, size_t errlen)
{
    PGconn *c = store_conn(s);
    PGresult *r = PQexec(c, "COPY probe_events (asset_id, agent_id, region, seq, ts, success,"
                            " latency_ms, code, message, phases, cert_expiry) FROM STDIN");
    bool started = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    if (!started) {
        store_set_error(s, "copy probe_events", err, errlen);
        return -EIO;
    }
    int rc = 0;
    if (PQputCopyData(c, rows->p, (int) rows->len) != 1) {
        store_set_error(s, "copy probe_events data", err, errlen);
        rc = -EIO;
        PQputCopyEnd(c, "statusd: sending the rows failed");
    } else if (PQputCopyEnd(c, NULL) != 1) {
        store_set_error(s, "copy probe_events end", err, errlen);
        rc = -EIO;
    }
    /* the COPY's outcome, then NULL */
    while ((r = PQgetResult(c)) != NULL) {
        if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK) {
            store_set_error(s, "insert probe_events", err, errlen);
            rc = -EIO;
        }
        PQclear(r);
    }
    return rc;
}

/* Inserts the accepted results (idx[0..n)) with one COPY. */
static int s_insert_all(store_t *s, const char *agent, const char *region,
                        const Statusd__ResultBatch *batch, const size_t *idx, size_t n,
                        char *err, size_t errlen)
{
    if (n == 0)
        return 0; /* everything was a duplicate: nothing to send */
    buf_t b = {0}, j = {0}, ea = {0}, er = {0};
    s_put_text(&ea, agent, SIZE_MAX, 0);
    s_putc(&ea, '\0');
    s_put_text(&er, region, SIZE_MAX, 0);
    s_putc(&er, '\0');
    s_reserve(&b, n * 192);
    int64_t now_ms = s_now_ms();
    for (size_t k = 0; k < n && !b.failed && !ea.failed && !er.failed; k++)
        s_put_row(&b, &j, ea.p, er.p, batch->results[idx[k]], now_ms);
    int rc;
    if (b.failed || j.failed || ea.failed || er.failed) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    } else {
        rc = s_copy(s, &b, err, errlen);
    }
    free(b.p);
    free(j.p);
    free(ea.p);
    free(er.p);
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
    bool sorted = true;
    *max_seq = 0;
    for (size_t i = 0; i < batch->n_results; i++) {
        const Statusd__ProbeResult *r = batch->results[i];
        if (!r)
            continue;
        if (r->seq > *max_seq)
            *max_seq = r->seq;
        if (r->seq > last_seq && r->seq <= MAX_SEQ) {
            if (m > 0 && r->seq <= o[m - 1].seq)
                sorted = false;
            o[m++] = (s_order_t){r->seq, i};
        }
    }
    if (!sorted) /* agents send ascending seqs; only a broken one needs the sort */
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
    const char *a = agent_id, *g = region ? region : "";
    char *agent = sd_utf8_dup(a, strlen(a), SIZE_MAX, 0);
    char *reg = sd_utf8_dup(g, strlen(g), SIZE_MAX, 0);
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
        rc = store_agents_lock_seq(s, agent, reg, &last_seq, err, errlen);
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
        rc = store_agents_advance_seq(s, agent, high, err, errlen);
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

static int64_t s_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int store_results_recent(store_t *s, int64_t window_ms, int per_agent,
                                   void (*cb)(const store_recent_result_t *, void *), void *arg,
                                   char *err, size_t errlen)
{
    char win[32], per[32];
    snprintf(win, sizeof win, "%" PRId64, window_ms);
    snprintf(per, sizeof per, "%d", per_agent);
    const char *params[2] = {win, per};
    PGresult *r = store_exec(
        s, "load recent results",
        "SELECT x.asset_id, x.agent_id, x.region, (extract(epoch FROM x.ts) * 1000)::bigint,"
        " x.success, CASE WHEN x.success THEN '' ELSE"
        "  COALESCE(x.message, 'status ' || x.code, 'probe failed') END,"
        " (extract(epoch FROM x.received_at) * 1000)::bigint, COALESCE(g.clock_skew_ms, 0),"
        " x.seq, ceil(x.latency_ms)::bigint"
        " FROM (SELECT p.*, row_number() OVER (PARTITION BY asset_id, agent_id"
        "                                      ORDER BY seq DESC) AS rn"
        "       FROM probe_events p"
        "       WHERE received_at > now() - make_interval(secs => $1::double precision / 1000)"
        "         AND ts > now() - make_interval(secs => $1::double precision / 1000 + 3600))"
        "      x LEFT JOIN agents g ON g.id = x.agent_id"
        " WHERE x.rn <= $2::integer ORDER BY x.asset_id, x.agent_id, x.seq",
        2, params, err, errlen);
    if (!r)
        return -EIO;
    for (int i = 0; i < PQntuples(r); i++) {
        store_recent_result_t rr = {.asset_id = PQgetvalue(r, i, 0),
                                    .agent_id = PQgetvalue(r, i, 1),
                                    .region = PQgetvalue(r, i, 2),
                                    .ts_ms = s_i64(r, i, 3),
                                    .success = PQgetvalue(r, i, 4)[0] == 't',
                                    .error = PQgetvalue(r, i, 5),
                                    .received_ms = s_i64(r, i, 6),
                                    .clock_skew_ms = s_i64(r, i, 7),
                                    .seq = strtoull(PQgetvalue(r, i, 8), NULL, 10),
                                    .latency_ms = s_i64(r, i, 9)};
        cb(&rr, arg);
    }
    PQclear(r);
    return 0;
}
