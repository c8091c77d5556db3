/* store_fixture: the fixture of the store tests that need only a migrated fresh database and
 * a store_t (test_store_retention_pg, test_store_rollups_pg). Define STORE_FIXTURE_DB_PREFIX
 * (the fresh database's name prefix) before including; use s_setup / s_teardown as the
 * group's setup and teardown, s_store, s_exec (fails the test on an error) and s_num (one
 * number; NAN for NULL). Header-only, for tests. */
#ifndef STORE_FIXTURE_H
#define STORE_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "store.h"
#include "test_pg.h"

#ifndef STORE_FIXTURE_DB_PREFIX
#error "define STORE_FIXTURE_DB_PREFIX before including store_fixture.h"
#endif

static store_t *s_store;

static inline void s_exec(const char *sql)
{
    PGresult *r = PQexec(store_conn(s_store), sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(store_conn(s_store)));
    PQclear(r);
}

static inline double s_num(const char *sql)
{
    PGresult *r = PQexec(store_conn(s_store), sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(store_conn(s_store)));
    double v = PQgetisnull(r, 0, 0) ? NAN : atof(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static inline int s_setup(void **state)
{
    (void) state;
    char *ci = test_pg_fresh_db(STORE_FIXTURE_DB_PREFIX);
    char err[512] = "", dir[4096];
    snprintf(dir, sizeof dir, "%s/migrations", getenv("STATUSD_SOURCE_DIR"));
    s_store = ci ? store_new(ci, err, sizeof err) : NULL;
    free(ci);
    if (!s_store || store_migrate(s_store, dir, err, sizeof err) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    return 0;
}

static inline int s_teardown(void **state)
{
    (void) state;
    store_destroy(&s_store);
    return 0;
}

#endif
