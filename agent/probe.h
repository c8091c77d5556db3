/* probe: the registry of probe types (name -> struct probe_ops) and the result record.
 * A failed probe is data (success=false + reason), never an error path. */
#ifndef PROBE_H
#define PROBE_H

#include "curl_glue.h"
#include "loop.h"
#include "resolver.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROBE_MAX_PHASES 8
#define PROBE_REASON_MAX 200

typedef struct {
    char name[16];       /* dns, connect, tls, processing, transfer */
    uint32_t duration_us;
} probe_phase_t;

typedef struct probe_result {
    uint64_t seq;          /* set by outq */
    char *asset_id;        /* owned */
    int64_t started_at_ms; /* wall clock, unix ms */
    bool success;
    uint32_t latency_us;
    int32_t status_code;   /* 0 when none */
    char reason[PROBE_REASON_MAX]; /* one line, "" on success */
    probe_phase_t phases[PROBE_MAX_PHASES];
    size_t n_phases;
    int64_t cert_expiry_unix; /* 0 when unknown */
} probe_result_t;

/* What a probe needs from the agent. */
typedef struct {
    loop_t *loop;
    curl_glue_t *curl;
} probe_env_t;

/* The resolver the probes on loop use for host names (main sets it after resolver_new and
 * clears it with NULL before resolver_destroy); without one, probes accept literal addresses
 * and localhost only. Kept beside probe_env_t, not in it, because callers build probe_env_t
 * with positional initializers. At most PROBE_MAX_LOOPS loops at once: 0 or -ENOSPC. */
#define PROBE_MAX_LOOPS 16
int probe_set_resolver(loop_t *loop, resolver_t *r);
/* The resolver set for env->loop, or NULL (also when env is NULL). */
resolver_t *probe_resolver(const probe_env_t *env);

/* One asset as the scheduler holds it (strings owned by the holder). */
typedef struct {
    char *asset_id;
    char *type;
    char *address;
    uint32_t interval_ms;
    uint32_t timeout_ms;
    uint32_t *expected_status_codes;
    size_t n_expected_status_codes;
    char *options_json;   /* "" = none */
    uint32_t phase_offset_ms;
} probe_spec_t;

typedef struct probe_run probe_run_t; /* one in-flight probe, type-specific */

/* Called once per started probe with a result the callee owns (probe_result_destroy). */
typedef void(probe_done_fn)(probe_result_t *r, void *ctx);

struct probe_ops {
    const char *name;
    /* Validates options_json ("" or NULL = none); *opts_out is freed with free_options.
     * 0, or -ENOMEM with a one-line message in err (invalid options: see below). */
    int (*parse_options)(const char *options_json, void **opts_out, char *err, size_t errlen);
    void (*free_options)(void *opts);
    /* Starts a probe; spec and opts must outlive the run. done is never called from inside
     * start. 0 with *run_out set, or -errno with a one-line message in err. */
    int (*start)(const probe_env_t *env, const probe_spec_t *spec, const void *opts,
                 probe_done_fn *done, void *ctx, probe_run_t **run_out, char *err, size_t errlen);
    /* Stops a run; done will not be called; frees the run. */
    void (*cancel)(probe_run_t *run);
};

/* The probe type called name, or NULL. */
const struct probe_ops *probe_find(const char *name);
/* The i-th registered type, or NULL past the end (for Hello.probe_types). */
const struct probe_ops *probe_at(size_t i);

/* A zeroed result for asset_id (copied), started_at_ms set to now. NULL on ENOMEM. */
probe_result_t *probe_result_new(const char *asset_id);
void probe_result_destroy(probe_result_t **p);
/* Formats r->reason: valid UTF-8 (an invalid byte becomes U+FFFD), one line (control
 * characters become spaces), cut at a character boundary with "…" when it does not fit. */
void probe_result_set_reason(probe_result_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* snprintf for text that ends up in a reason, with probe_result_set_reason's promises: dst
 * (cap >= 1 bytes) gets valid one-line UTF-8, cut at a character boundary with "…". Returns
 * dst. */
char *probe_format(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An excerpt of src (config or remote text, NULL = "") to quote inside a reason: at most
 * cap - 1 bytes of valid one-line UTF-8, cut at a character boundary with "…". Returns dst,
 * for use as a %s argument (replaces "%.60s", which cuts inside a character). */
const char *probe_excerpt(char *dst, size_t cap, const char *src);
/* Appends a phase if there is room. */
void probe_result_add_phase(probe_result_t *r, const char *name, int64_t duration_us);

/* The probe types (one file each). A bad options_json is not refused by parse_options: it
 * returns 0 with opts recording why, and every start fails with "invalid options: ...", so the
 * asset reports a failed result with that reason instead of vanishing from the agent. */
extern const struct probe_ops probe_http_ops; /* probe_http.c */
extern const struct probe_ops probe_tcp_ops;  /* probe_tcp.c */
extern const struct probe_ops probe_tls_ops;  /* probe_tls.c */
extern const struct probe_ops probe_dns_ops;  /* probe_dns.c */
extern const struct probe_ops probe_icmp_ops; /* probe_icmp.c */

/* Shared by the tcp and tls probes (engine in probe_tcp.c). */
typedef struct {
    char invalid[PROBE_REASON_MAX - 40]; /* non-empty: the options were rejected, why */
    char *send, *expect, *server_name;    /* NULL when absent */
    bool tls, verify;                     /* defaults: tls for the tls type, verify true */
    bool cert_check;                      /* tls type: expiry reasons and minDaysValid */
    int min_days;                         /* default 14 */
} probe_net_opts_t;
int probe_net_parse_options(const char *type, const char *json, void **out, char *err,
                            size_t errlen);
void probe_net_free_options(void *opts);
int probe_net_start(const probe_env_t *env, const probe_spec_t *spec, const void *opts,
                    probe_done_fn *done, void *ctx, probe_run_t **run_out, char *err,
                    size_t errlen);
void probe_net_cancel(probe_run_t *run);

#endif
