/* store: the one place that speaks SQL. store.c owns the connection, migrations and
 * partition upkeep; store_<concern>.c files hold the queries of each concern. Each
 * actor opens its own store_t (a libpq connection is not shared between threads).
 * Every statement is parameterized ($1...), every PGresult cleared.
 *
 * A store survives the database going away: when its connection has dropped, the next
 * store_begin, store_ensure, or store_exec/store_command outside a transaction reconnects
 * (attempts at once, then backing off 250 ms .. 5 s while they fail) and runs the session
 * SQL again. A statement inside a transaction whose connection dropped fails, and so does
 * its COMMIT: the caller retries the whole transaction later. */
#ifndef STORE_H
#define STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store_t store_t;

/* Connects with any libpq conninfo or URI (several hosts and target_session_attrs work as
 * in libpq); connect_timeout defaults to 10 s unless conninfo sets it. NULL on failure
 * with a message in err. */
store_t *store_new(const char *conninfo, char *err, size_t errlen);
void store_destroy(store_t **s);
/* SQL run now (when connected) and at the start of every new session, e.g.
 * "SET statement_timeout = 10000"; NULL clears it. 0, or -EIO when it failed now. */
int store_set_session_sql(store_t *s, const char *sql);
/* Reconnects if the connection dropped (within the backoff) and ends a transaction left
 * open; 0 when usable, -EIO otherwise. */
int store_ensure(store_t *s);
/* The connection, for store_*.c only (as it is: store_ensure replaces a dropped one).
 * Never NULL for a store from store_new. */
PGconn *store_conn(store_t *s);
/* True while the connection is up (as libpq last saw it). */
bool store_connected(const store_t *s);
/* Sessions opened so far (the first included): a change means a new session. */
uint64_t store_sessions(const store_t *s);
/* True when the last statement that failed through store_exec/store_command failed for
 * its data (SQLSTATE class 22, 23, 42 or 44) on a live connection: retrying it unchanged
 * cannot succeed. False for connection and server-state failures (retry later). */
bool store_error_is_data(const store_t *s);
/* True when that statement violated a unique constraint (SQLSTATE 23505). */
bool store_error_is_unique(const store_t *s);
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
