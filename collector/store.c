/* store: the PostgreSQL connection, schema migrations and probe_events partition upkeep.
 * Library code: returns 0/-errno with a message, never logs. */
#include "store.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "sd_clock.h"

#define MIGRATION_MAX_FILES 1000
#define MIGRATION_MAX_BYTES (4 * 1024 * 1024)
/* pg_advisory_lock key for migrations: "SDMIGRAT" as a 64-bit integer. */
#define MIGRATION_LOCK_KEY "6000214402437550420"

/* reconnection attempts: the first at once, then backing off to this cap */
#define RECONNECT_MIN_MS 250
#define RECONNECT_MAX_MS 5000

struct store_t {
    PGconn *conn;
    char *session_sql;       /* run on every new session (store_set_session_sql) */
    bool in_tx;              /* between store_begin and store_commit/store_rollback */
    sd_ms_t next_attempt;    /* no reconnection attempt before this (monotonic) */
    int backoff_ms;          /* the wait after the next failed attempt */
    uint64_t sessions;       /* successful connections, the first included */
    char sqlstate[6];        /* of the last failed statement through store_exec */
};

static int s_reconnect(store_t *s);

/* libpq prints NOTICEs (e.g. "relation already exists, skipping") to stderr by default;
 * library code does not log. */
static void s_notice_quiet(void *arg, const char *message)
{
    (void) arg;
    (void) message;
}

static void s_set_err(char *err, size_t errlen, const char *what, PGconn *c)
{
    if (!err || errlen == 0)
        return;
    const char *m = c ? PQerrorMessage(c) : "no connection";
    int n = snprintf(err, errlen, "%s: ", what);
    size_t o = n > 0 && (size_t) n < errlen ? (size_t) n : strlen(err);
    /* one line: libpq's multi-line messages (DETAIL, LINE, caret) are folded */
    bool space = false;
    for (; *m && o + 1 < errlen; m++) {
        bool ws = *m == '\n' || *m == '\t' || *m == ' ';
        if (ws) {
            space = true;
            continue;
        }
        if (space && o > 0 && o + 2 < errlen)
            err[o++] = ' ';
        space = false;
        err[o++] = *m;
    }
    err[o] = 0;
}

void store_set_error(store_t *s, const char *what, char *err, size_t errlen)
{
    s_set_err(err, errlen, what, s ? s->conn : NULL);
}

PGresult *store_exec(store_t *s, const char *what, const char *sql, int n,
                     const char *const *params, char *err, size_t errlen)
{
    PGconn *c = store_conn(s);
    if (!c) {
        s_set_err(err, errlen, what, NULL);
        return NULL;
    }
    /* outside a transaction a dropped connection is replaced before use; inside one the
     * statement fails and the caller's COMMIT with it */
    if (!s->in_tx && PQstatus(c) != CONNECTION_OK)
        s_reconnect(s);
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        snprintf(s->sqlstate, sizeof s->sqlstate, "%s", code ? code : "");
        s_set_err(err, errlen, what, c);
        PQclear(r);
        return NULL;
    }
    return r;
}

int store_command(store_t *s, const char *what, const char *sql, int n,
                  const char *const *params, char *err, size_t errlen)
{
    PGresult *r = store_exec(s, what, sql, n, params, err, errlen);
    if (!r)
        return -EIO;
    PQclear(r);
    return 0;
}

/* A new session: quiet notices, then the session SQL. 0 or -EIO (the session is closed
 * again so the next attempt starts over). */
static int s_session_start(store_t *s)
{
    PQsetNoticeProcessor(s->conn, s_notice_quiet, NULL);
    /* every session, whatever the conninfo's options: UTC, so '1 day' added to a time is 24
     * hours (in a zone with daylight saving it is 23 or 25 once a year, and so would be the
     * daily rollups); no JIT: our statements are short, and compiling one took longer than
     * running it (a second for a rollup build of 1,000 assets) */
    PGresult *fixed = PQexec(s->conn, "SET TimeZone = 'UTC'; SET jit = off");
    bool fixed_ok = PQresultStatus(fixed) == PGRES_COMMAND_OK;
    PQclear(fixed);
    if (!fixed_ok)
        return -EIO;
    if (s->session_sql) {
        PGresult *r = PQexec(s->conn, s->session_sql);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        if (!ok)
            return -EIO;
    }
    s->sessions++;
    s->backoff_ms = RECONNECT_MIN_MS;
    s->next_attempt = 0;
    return 0;
}

store_t *store_new(const char *conninfo, char *err, size_t errlen)
{
    store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->backoff_ms = RECONNECT_MIN_MS;
    /* defaults placed before the expanded conninfo, so the operator's values win: a
     * blackholed host must not block an actor forever (connect_timeout), and a peer that
     * vanished without a FIN is noticed within about 25 s (TCP keepalives) */
    const char *const keys[] = {"connect_timeout", "application_name", "keepalives",
                                "keepalives_idle", "keepalives_interval", "keepalives_count",
                                "dbname", NULL};
    const char *const vals[] = {"10", "statusd-collector", "1", "10", "5", "3",
                                conninfo ? conninfo : "", NULL};
    self->conn = PQconnectdbParams(keys, vals, 1);
    if (!self->conn || PQstatus(self->conn) != CONNECTION_OK || s_session_start(self) != 0) {
        s_set_err(err, errlen, "connect", self->conn);
        store_destroy(&self);
        return NULL;
    }
    return self;
}

void store_destroy(store_t **s)
{
    if (!s || !*s)
        return;
    if ((*s)->conn)
        PQfinish((*s)->conn);
    free((*s)->session_sql);
    free(*s);
    *s = NULL;
}

int store_set_session_sql(store_t *s, const char *sql)
{
    if (!s)
        return -EINVAL;
    char *copy = sql ? strdup(sql) : NULL;
    if (sql && !copy)
        return -ENOMEM;
    free(s->session_sql);
    s->session_sql = copy;
    if (!sql || !s->conn || PQstatus(s->conn) != CONNECTION_OK || s->in_tx)
        return 0;
    PGresult *r = PQexec(s->conn, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok ? 0 : -EIO;
}

/* One reconnection attempt when the backoff allows it; 0 when the connection is usable. */
static int s_reconnect(store_t *s)
{
    sd_ms_t now = sd_mono_ms();
    if (now < s->next_attempt)
        return -EAGAIN;
    PQreset(s->conn);
    if (PQstatus(s->conn) == CONNECTION_OK && s_session_start(s) == 0)
        return 0;
    s->next_attempt = sd_mono_ms() + s->backoff_ms;
    s->backoff_ms = s->backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : s->backoff_ms * 2;
    return -EIO;
}

int store_ensure(store_t *s)
{
    if (!s || !s->conn)
        return -EIO;
    if (PQstatus(s->conn) != CONNECTION_OK) {
        s->in_tx = false; /* a transaction does not survive its connection */
        return s_reconnect(s) == 0 ? 0 : -EIO;
    }
    PGTransactionStatusType ts = PQtransactionStatus(s->conn);
    if (ts == PQTRANS_INERROR || ts == PQTRANS_INTRANS)
        store_rollback(s);
    return PQstatus(s->conn) == CONNECTION_OK ? 0 : -EIO;
}

PGconn *store_conn(store_t *s)
{
    return s ? s->conn : NULL;
}

bool store_connected(const store_t *s)
{
    return s && s->conn && PQstatus(s->conn) == CONNECTION_OK;
}

uint64_t store_sessions(const store_t *s)
{
    return s ? s->sessions : 0;
}

bool store_error_is_unique(const store_t *s)
{
    return s && strcmp(s->sqlstate, "23505") == 0;
}

bool store_error_is_data(const store_t *s)
{
    if (!store_connected(s) || !s->sqlstate[0])
        return false;
    /* 22: data exception (e.g. invalid byte sequence), 23: integrity constraint,
     * 42: syntax error or undefined object, 44: check option: retrying cannot help */
    return strncmp(s->sqlstate, "22", 2) == 0 || strncmp(s->sqlstate, "23", 2) == 0 ||
           strncmp(s->sqlstate, "42", 2) == 0 || strncmp(s->sqlstate, "44", 2) == 0;
}

/* Runs one parameterless command; 0 or -EIO with the server message. */
static int s_exec(store_t *s, const char *sql, const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexec(s->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        s_set_err(err, errlen, what, s->conn);
        return -EIO;
    }
    return 0;
}

int store_begin(store_t *s, char *err, size_t errlen)
{
    if (!s || !s->conn) {
        s_set_err(err, errlen, "begin", NULL);
        return -EIO;
    }
    s->sqlstate[0] = 0;
    if (store_ensure(s) != 0) {
        s_set_err(err, errlen, "begin", s->conn);
        return -EIO;
    }
    int rc = s_exec(s, "BEGIN", "begin", err, errlen);
    s->in_tx = rc == 0;
    return rc;
}

int store_commit(store_t *s, char *err, size_t errlen)
{
    s->in_tx = false;
    PGresult *r = PQexec(s->conn, "COMMIT");
    ExecStatusType st = PQresultStatus(r);
    /* COMMIT of an aborted transaction answers ROLLBACK with COMMAND_OK */
    int ok = st == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
    PQclear(r);
    if (!ok) {
        const char *m = PQerrorMessage(s->conn);
        if (m && *m)
            s_set_err(err, errlen, "commit", s->conn);
        else if (err && errlen)
            snprintf(err, errlen, "commit: transaction was rolled back");
        return -EIO;
    }
    return 0;
}

void store_rollback(store_t *s)
{
    if (!s || !s->conn)
        return;
    s->in_tx = false;
    if (PQstatus(s->conn) != CONNECTION_OK)
        return;
    PGresult *r = PQexec(s->conn, "ROLLBACK");
    PQclear(r);
}

/* ---- migrations ---------------------------------------------------------------------- */

static int s_is_migration_name(const char *n)
{
    size_t len = strlen(n), digits = 0;
    while (n[digits] >= '0' && n[digits] <= '9')
        digits++;
    const char *suffix = ".up.sql";
    size_t sl = strlen(suffix);
    return digits >= 1 && n[digits] == '_' && len > digits + 1 + sl &&
           strcmp(n + len - sl, suffix) == 0;
}

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

static void s_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The migration file names of dir, sorted; 0 or -errno. */
static int s_list_migrations(const char *dir, char ***out, size_t *n_out, char *err,
                             size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", dir, strerror(e));
        return -e;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (!s_is_migration_name(de->d_name))
            continue;
        if (n >= MIGRATION_MAX_FILES) {
            snprintf(err, errlen, "%s: more than %d migrations", dir, MIGRATION_MAX_FILES);
            rc = -E2BIG;
            break;
        }
        char **nn = realloc(names, (n + 1) * sizeof *names);
        if (!nn || !(nn[n] = strdup(de->d_name))) {
            if (nn)
                names = nn;
            snprintf(err, errlen, "out of memory");
            rc = -ENOMEM;
            break;
        }
        names = nn;
        n++;
    }
    closedir(d);
    if (rc) {
        s_free_names(names, n);
        return rc;
    }
    if (n)
        qsort(names, n, sizeof *names, s_cmp_str);
    *out = names;
    *n_out = n;
    return 0;
}

static char *s_read_file(const char *path, char *err, size_t errlen, int *rc)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-*rc));
        return NULL;
    }
    char *buf = malloc(MIGRATION_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MIGRATION_MAX_BYTES + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > MIGRATION_MAX_BYTES) {
        *rc = !buf ? -ENOMEM : bad ? -EIO : -EFBIG;
        snprintf(err, errlen, "%s: %s", path,
                 !buf ? "out of memory" : bad ? "read error" : "larger than 4 MiB");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* 1 when version is recorded, 0 when not, -EIO on error. */
static int s_migration_applied(store_t *s, const char *version, char *err, size_t errlen)
{
    const char *params[1] = {version};
    PGresult *r = PQexecParams(s->conn, "SELECT 1 FROM schema_migrations WHERE version = $1",
                               1, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) > 0 : -EIO;
    if (rc < 0)
        s_set_err(err, errlen, "schema_migrations", s->conn);
    PQclear(r);
    return rc;
}

static int s_apply_one(store_t *s, const char *dir, const char *name, char *err,
                       size_t errlen)
{
    char path[4096], version[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(version, sizeof version, "%.*s", (int) (strlen(name) - strlen(".up.sql")), name);
    int rc = s_migration_applied(s, version, err, errlen);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    char *sql = s_read_file(path, err, errlen, &rc);
    if (!sql)
        return rc;
    char what[4200];
    snprintf(what, sizeof what, "%s", path);
    rc = store_begin(s, err, errlen);
    /* migration DDL is our own file text, not input: PQexec of the whole file */
    if (rc == 0)
        rc = s_exec(s, sql, what, err, errlen);
    free(sql);
    if (rc == 0) {
        const char *params[1] = {version};
        PGresult *r = PQexecParams(s->conn,
                                   "INSERT INTO schema_migrations (version) VALUES ($1)", 1,
                                   NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            s_set_err(err, errlen, what, s->conn);
            rc = -EIO;
        }
        PQclear(r);
    }
    if (rc == 0 && store_commit(s, err, errlen) != 0) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, errlen, "%s: %s", path, tmp);
        rc = -EIO;
    }
    if (rc != 0)
        store_rollback(s);
    return rc;
}

int store_migrate(store_t *s, const char *dir, char *err, size_t errlen)
{
    char **names = NULL;
    size_t n = 0;
    int rc = s_list_migrations(dir, &names, &n, err, errlen);
    if (rc)
        return rc;
    /* the lock first: two collectors starting together must not race on CREATE TABLE */
    rc = s_exec(s, "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")", "advisory lock", err,
                errlen);
    if (rc == 0) {
        rc = s_exec(s,
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version TEXT PRIMARY KEY,"
                    " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                    "schema_migrations", err, errlen);
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = s_apply_one(s, dir, names[i], err, errlen);
        PGresult *r = PQexec(s->conn, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")");
        PQclear(r);
    }
    s_free_names(names, n);
    return rc;
}

/* ---- partitions ---------------------------------------------------------------------- */

/* UTC calendar day of unix day number d (days since 1970-01-01). */
static void s_day(int64_t d, struct tm *out)
{
    time_t t = (time_t) (d * 86400);
    gmtime_r(&t, out);
}

static int s_create_partition(store_t *s, int64_t day, char *err, size_t errlen)
{
    struct tm a, b;
    s_day(day, &a);
    s_day(day + 1, &b);
    /* DDL takes no parameters; every value here is formatted from integers */
    char sql[512], what[64];
    snprintf(what, sizeof what, "probe_events_%04d%02d%02d", a.tm_year + 1900, a.tm_mon + 1,
             a.tm_mday);
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS %s PARTITION OF probe_events FOR VALUES FROM "
             "('%04d-%02d-%02d 00:00:00+00') TO ('%04d-%02d-%02d 00:00:00+00')",
             what, a.tm_year + 1900, a.tm_mon + 1, a.tm_mday, b.tm_year + 1900, b.tm_mon + 1,
             b.tm_mday);
    return s_exec(s, sql, what, err, errlen);
}

static int s_exists(store_t *s, const char *name)
{
    const char *params[1] = {name};
    PGresult *r = PQexecParams(s->conn, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, params,
                               NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                 ? strcmp(PQgetvalue(r, 0, 0), "t") == 0
                 : -EIO;
    PQclear(r);
    return rc;
}

/* unix day number of a "probe_events_YYYYMMDD" name, or -1 when it is not one. */
static int64_t s_partition_day(const char *name)
{
    const char *p = "probe_events_";
    if (strncmp(name, p, strlen(p)) != 0)
        return -1;
    const char *d = name + strlen(p);
    if (strlen(d) != 8 || strspn(d, "0123456789") != 8)
        return -1;
    struct tm tm = {0};
    tm.tm_year = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0') -
                 1900;
    tm.tm_mon = (d[4] - '0') * 10 + (d[5] - '0') - 1;
    tm.tm_mday = (d[6] - '0') * 10 + (d[7] - '0');
    time_t t = timegm(&tm);
    return t < 0 ? -1 : (int64_t) t / 86400;
}

/* Rows of the default partition (results older than the partitions created, e.g. resent
 * after a long outage) older than the oldest day kept: retention applies to them too. */
static int s_prune_default(store_t *s, int64_t oldest_kept, char *err, size_t errlen)
{
    char cutoff[32];
    snprintf(cutoff, sizeof cutoff, "%lld", (long long) (oldest_kept * 86400));
    const char *params[1] = {cutoff};
    PGresult *r = PQexecParams(s->conn,
                               "DELETE FROM probe_events_default"
                               " WHERE ts < to_timestamp($1::bigint)",
                               1, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        s_set_err(err, errlen, "prune probe_events_default", s->conn);
        rc = -EIO;
    }
    PQclear(r);
    return rc;
}

static int s_drop_old(store_t *s, int64_t oldest_kept, int *dropped, char *err, size_t errlen)
{
    const char *params[1] = {"probe_events"};
    PGresult *r = PQexecParams(s->conn,
                               "SELECT c.relname FROM pg_inherits i"
                               " JOIN pg_class c ON c.oid = i.inhrelid"
                               " JOIN pg_class p ON p.oid = i.inhparent"
                               " WHERE p.relname = $1 ORDER BY 1",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        s_set_err(err, errlen, "list partitions", s->conn);
        PQclear(r);
        return -EIO;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0);
        int64_t day = s_partition_day(name);
        if (day < 0 || day >= oldest_kept)
            continue;
        char sql[128];
        /* the name matched probe_events_ + 8 digits above */
        snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", name);
        int e = s_exec(s, sql, name, rc ? NULL : err, rc ? 0 : errlen);
        if (e == 0 && dropped)
            (*dropped)++;
        if (e && !rc)
            rc = e;
    }
    PQclear(r);
    return rc;
}

int store_partitions_upkeep(store_t *s, int retention_days, int64_t now_ms, int *created,
                            int *dropped, char *err, size_t errlen)
{
    if (created)
        *created = 0;
    if (dropped)
        *dropped = 0;
    if (!s || !s->conn)
        return -EIO;
    if (retention_days < 1)
        retention_days = 1;
    int64_t today = now_ms / 86400000;
    int rc = 0;
    for (int64_t d = today - 1; d <= today + 2; d++) {
        struct tm a;
        char name[64];
        s_day(d, &a);
        snprintf(name, sizeof name, "probe_events_%04d%02d%02d", a.tm_year + 1900,
                 a.tm_mon + 1, a.tm_mday);
        int had = s_exists(s, name);
        int e = s_create_partition(s, d, rc ? NULL : err, rc ? 0 : errlen);
        if (e == 0 && had == 0 && created)
            (*created)++;
        if (e && !rc)
            rc = e;
    }
    int e = s_drop_old(s, today - retention_days, dropped, rc ? NULL : err, rc ? 0 : errlen);
    if (e && !rc)
        rc = e;
    e = s_prune_default(s, today - retention_days, rc ? NULL : err, rc ? 0 : errlen);
    if (e && !rc)
        rc = e;
    return rc;
}
