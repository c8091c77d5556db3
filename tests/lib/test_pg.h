/* test_pg: for unit tests named test_*_pg.c. The ctest fixture "pg" starts one private
 * PostgreSQL cluster and writes its conninfo to $STATUSD_TEST_PG_CONNINFO_FILE.
 * Each test creates its own schema-isolated database state: call test_pg_fresh_db() to get
 * a conninfo for a brand-new empty database (dropped by nobody; the cluster is temporary). */
#ifndef TEST_PG_H
#define TEST_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Returns a malloc'd conninfo of the fixture cluster's "statusd" database, or NULL (with a
 * message on stderr) when the fixture is not running: the test must then fail, not skip. */
static inline char *test_pg_conninfo(void)
{
    const char *f = getenv("STATUSD_TEST_PG_CONNINFO_FILE");
    if (!f) {
        fprintf(stderr, "STATUSD_TEST_PG_CONNINFO_FILE not set: run through ctest\n");
        return NULL;
    }
    FILE *fp = fopen(f, "r");
    if (!fp) {
        fprintf(stderr, "cannot open %s: is the pg fixture running?\n", f);
        return NULL;
    }
    char buf[512] = {0};
    if (!fgets(buf, sizeof buf, fp)) {
        fclose(fp);
        return NULL;
    }
    fclose(fp);
    buf[strcspn(buf, "\n")] = 0;
    return strdup(buf);
}

/* Creates a new empty database named prefix_<pid>_<counter> and returns its conninfo. */
static inline char *test_pg_fresh_db(const char *prefix)
{
    static int counter;
    char *base = test_pg_conninfo();
    if (!base)
        return NULL;
    PGconn *c = PQconnectdb(base);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect %s: %s\n", base, PQerrorMessage(c));
        PQfinish(c);
        free(base);
        return NULL;
    }
    char name[128], sql[256];
    snprintf(name, sizeof name, "%s_%d_%d", prefix, (int) getpid(), ++counter);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "%s: %s\n", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    if (!ok) {
        free(base);
        return NULL;
    }
    char *dbpos = strstr(base, "dbname=");
    if (dbpos)
        *dbpos = 0;
    size_t n = strlen(base) + strlen(name) + 16;
    char *out = malloc(n);
    snprintf(out, n, "%sdbname=%s", base, name);
    free(base);
    return out;
}

/* Takes the database of conninfo (one from test_pg_fresh_db) away (allow false: new
 * connections are refused, as while PostgreSQL is down; existing ones stay) or gives it
 * back. Set from the "postgres" database: PostgreSQL refuses it from the database itself.
 * 0, or -1 with a message on stderr. */
static inline int test_pg_allow_connections(const char *conninfo, bool allow)
{
    const char *db = strstr(conninfo, "dbname=");
    if (!db)
        return -1;
    char sql[256], admin[1024];
    snprintf(sql, sizeof sql, "ALTER DATABASE \"%s\" ALLOW_CONNECTIONS %s",
             db + strlen("dbname="), allow ? "true" : "false");
    snprintf(admin, sizeof admin, "%s dbname=postgres", conninfo);
    PGconn *c = PQconnectdb(admin);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "%s: %s\n", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

#endif
