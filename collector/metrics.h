/* metrics: a thread-safe registry of Prometheus series, rendered in the text format
 * (version 0.0.4) for /metrics. Any actor may update it; the API renders it.
 * A metric is created on first use with its type and help; using one name with two
 * types is a programming error (assert). Label sets are NULL-terminated arrays of
 * key, value pairs: (const char *[]){"asset", "api", "agent", "a1", NULL}. Values may be
 * any text: each is made valid UTF-8 of at most METRICS_LABEL_VALUE_MAX bytes when set (an
 * invalid byte becomes U+FFFD, a longer value is cut at a character boundary with "…"; the
 * same happens on lookup and removal, so the raw value still names its series), and escaped
 * on render. */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct metrics_t metrics_t;
typedef enum { METRIC_GAUGE, METRIC_COUNTER } metric_type_t;

/* The registry holds at most this many series; a new series past it is dropped and
 * counted in statusd_metrics_series_dropped_total. */
#define METRICS_MAX_SERIES_DEFAULT 100000
/* The longest label value kept, in bytes (see above). */
#define METRICS_LABEL_VALUE_MAX 256

metrics_t *metrics_new(void);
void metrics_destroy(metrics_t **m);

/* Sets a gauge series to value. */
void metrics_set(metrics_t *m, const char *name, const char *help, const char *const *labels,
                 double value);
/* Adds delta (>= 0) to a counter series (created at 0). Counter names end in _total. */
void metrics_add(metrics_t *m, const char *name, const char *help, const char *const *labels,
                 double delta);
/* A series handle for hot paths (one per series the caller updates often, zeroed before
 * first use): metrics_set_cached resolves it like metrics_set the first time, then sets the
 * value without formatting or hashing the label set again. Any removal from the registry,
 * and any change of the bound, makes every handle stale, and a stale handle resolves again;
 * so does one whose series was refused at the bound (counted once per resolve, not per
 * update). Handles are not shared between threads. */
typedef struct {
    void *series;
    uint64_t gen;
} metrics_handle_t;

/* Sets a gauge series to value through *h (labels are read only when *h is resolved). */
void metrics_set_cached(metrics_t *m, metrics_handle_t *h, const char *name, const char *help,
                        const char *const *labels, double value);
/* Removes one series (e.g. an asset that left the manifest); no-op when absent. */
void metrics_remove(metrics_t *m, const char *name, const char *const *labels);
/* Removes every series of name whose label key has value (e.g. all series of an agent). */
void metrics_remove_matching(metrics_t *m, const char *name, const char *key, const char *value);
/* Renders everything; returns a malloc'd NUL-terminated string (caller frees) or NULL.
 * Families sorted by name, series by their label values; families without series are
 * left out. */
char *metrics_render(metrics_t *m);

/* Changes the series bound (tests; default METRICS_MAX_SERIES_DEFAULT). */
void metrics_set_max_series(metrics_t *m, size_t max_series);
/* Series dropped at the bound since start (the value of
 * statusd_metrics_series_dropped_total), for the owner to log once. */
uint64_t metrics_series_dropped(metrics_t *m);
/* Number of series held (the dropped-series counter itself not included). */
size_t metrics_series_count(metrics_t *m);

#endif
