/* store: the one place that speaks SQL. store.c owns the connection, migrations and
 * partition upkeep; store_<concern>.c files hold the queries of each concern. Each
 * actor opens its own store_t (a libpq connection is not shared between threads).
 * Every statement is parameterized ($1...), every PGresult cleared. */
#ifndef STORE_H
#define STORE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store_t store_t;

/* Connects with any libpq conninfo or URI (several hosts and target_session_attrs work as
 * in libpq); connect_timeout defaults to 10 s unless conninfo sets it. NULL on failure
 * with a message in err. */
store_t *store_new(const char *conninfo, char *err, size_t errlen);
void store_destroy(store_t **s);
/* Reconnects if the connection dropped; 0 when usable, -EIO otherwise. */
int store_ensure(store_t *s);
/* The connection, for store_*.c only. */
PGconn *store_conn(store_t *s);
/* Writes "what: <libpq's last error as one line>" into err (for store_*.c only). */
void store_set_error(store_t *s, const char *what, char *err, size_t errlen);
/* Runs one parameterized statement (for store_*.c only): the result (caller clears) when it
 * succeeded (a command, or rows), else NULL with "what: <message>" in err. */
PGresult *store_exec(store_t *s, const char *what, const char *sql, int n,
                     const char *const *params, char *err, size_t errlen);
/* store_exec of a statement whose result is not needed: 0, or -EIO with err. */
int store_command(store_t *s, const char *what, const char *sql, int n,
                  const char *const *params, char *err, size_t errlen);
/* Applies every migrations/NNN_name.up.sql not yet in schema_migrations, in order, each in
 * its own transaction, under an advisory lock. 0 or -errno with a message in err. */
int store_migrate(store_t *s, const char *dir, char *err, size_t errlen);
/* Transaction helpers; 0 or -EIO (err holds the server message). */
int store_begin(store_t *s, char *err, size_t errlen);
int store_commit(store_t *s, char *err, size_t errlen);
void store_rollback(store_t *s);

/* Partition upkeep for probe_events: creates the daily partitions probe_events_YYYYMMDD
 * (UTC) for yesterday .. today+2 and drops those whose day ended more than retention_days
 * before today; rows of the default partition older than that are deleted too. Idempotent. now_ms is wall-clock unix ms. On return *created and *dropped
 * (either may be NULL) count what changed. Returns 0, or the negative errno of the first
 * failure (the others are still attempted) with its message in err; a partition that
 * cannot be created because probe_events_default already holds rows in its range is such
 * a failure, and inserts keep landing in the default partition. */
int store_partitions_upkeep(store_t *s, int retention_days, int64_t now_ms, int *created,
                            int *dropped, char *err, size_t errlen);

#endif
