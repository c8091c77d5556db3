/* statusd-agent: command line, wiring of loop + curl + scheduler + outq + uplink, teardown. */
#include "curl_glue.h"
#include "loop.h"
#include "outq.h"
#include "probe.h"
#include "scheduler.h"
#include "sd_cert.h"
#include "spooler.h"
#include "sd_clock.h"
#include "sd_limits.h"
#include "sd_log.h"
#include "uplink.h"
#include "tls_conn.h"

#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AGENT_MAX_ENDPOINTS 8
#define AGENT_STATS_MS (5 * 60 * 1000)

typedef struct {
    const char *collector, *agent_id, *region, *log_level;
    long heartbeat_ms, max_pending, batch_max;
    const char *cert, *collector_cert; /* CURVE: our secret certificate, the collector's */
    bool insecure_plaintext;
    spooler_config_t spool; /* spool.dir NULL: no spool */
} s_opts_t;

typedef struct {
    loop_t *loop;
    outq_t *outq;
    sched_t *sched;
    uplink_t *uplink;
    spooler_t *spooler;
    loop_timer_t stats_timer;
    bool dropping;      /* inside a burst of drop-oldest (logged once per burst) */
} s_agent_t;

static void s_usage(FILE *f)
{
    fprintf(f,
            "Usage: statusd-agent --collector tcp://HOST:5555 --cert FILE --collector-cert FILE\n"
            "                     [--id NAME] [--region NAME] [options]\n"
            "\n"
            "Probes the assets the collector assigns and pushes the results to it.\n"
            "\n"
            "  -c, --collector URL     collector endpoint(s), comma-separated   [STATUSD_COLLECTOR]\n"
            "      --cert FILE         this agent's secret certificate (NAME.cert_secret from\n"
            "                          statusd-keygen)                          [STATUSD_CERT]\n"
            "      --collector-cert FILE  the collector's public certificate    [STATUSD_COLLECTOR_CERT]\n"
            "      --insecure-plaintext   no authentication, no encryption (the collector\n"
            "                          needs it too; one host only)  [STATUSD_INSECURE_PLAINTEXT=1]\n"
            "  -i, --id NAME           this agent's id (default: the certificate's name;\n"
            "                          it must be the certificate's name)       [STATUSD_AGENT_ID]\n"
            "  -r, --region NAME       this agent's region (default: the certificate's\n"
            "                          region)                                  [STATUSD_REGION]\n"
            "      --heartbeat-ms N    heartbeat period, ms (default " SD_LIMIT_STR(SD_HEARTBEAT_MS_DEFAULT)
            ")      [STATUSD_HEARTBEAT_MS]\n"
            "      --max-pending N     unacked results kept (default 100000)   [STATUSD_MAX_PENDING]\n"
            "      --batch-max N       results per batch (default 500)          [STATUSD_BATCH_MAX]\n"
            "      --spool-dir DIR     also keep unacked results on disk, replayed\n"
            "                          after a restart (default: none)             [STATUSD_SPOOL_DIR]\n"
            "      --spool-max-bytes N spool size bound: bytes, or 64K, 256M, 1G\n"
            "                          (default 256M, at least 64K)          [STATUSD_SPOOL_MAX_BYTES]\n"
            "      --spool-max-age D   drop older results: seconds, or 30m, 24h, 7d\n"
            "                          (default 24h)                           [STATUSD_SPOOL_MAX_AGE]\n"
            "      --spool-fsync-ms N  fsync the spool at most every N ms; 0: after\n"
            "                          each loop iteration that wrote (default 1000)\n"
            "                                                                 [STATUSD_SPOOL_FSYNC_MS]\n"
            "      --log-level LEVEL   debug|info|warn|error (default info)     [STATUSD_LOG_LEVEL]\n"
            "  -h, --help              this text\n"
            "  -V, --version           print the version\n"
            "\n"
            "Flags win over environment variables. Exit codes: 0 ok, 1 runtime error, 2 usage.\n");
}

__attribute__((format(printf, 1, 2))) static int s_usage_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "statusd-agent: %s (see --help)\n", msg);
    return 2;
}

/* Parses a decimal integer in [min, max]; 0 or -EINVAL. */
static int s_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s)
        return -EINVAL;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* 0, or 2 after printing a one-line error. */
static int s_parse_args(int argc, char **argv, s_opts_t *o, bool *exit_now)
{
    const char *hb = getenv("STATUSD_HEARTBEAT_MS"), *mp = getenv("STATUSD_MAX_PENDING"),
               *bm = getenv("STATUSD_BATCH_MAX");
    const char *hb_name = "STATUSD_HEARTBEAT_MS", *mp_name = "STATUSD_MAX_PENDING",
               *bm_name = "STATUSD_BATCH_MAX";
    const char *sb = getenv("STATUSD_SPOOL_MAX_BYTES"), *sa = getenv("STATUSD_SPOOL_MAX_AGE"),
               *sf = getenv("STATUSD_SPOOL_FSYNC_MS");
    const char *sb_name = "STATUSD_SPOOL_MAX_BYTES", *sa_name = "STATUSD_SPOOL_MAX_AGE",
               *sf_name = "STATUSD_SPOOL_FSYNC_MS";
    o->spool.dir = getenv("STATUSD_SPOOL_DIR");
    o->collector = getenv("STATUSD_COLLECTOR");
    o->agent_id = getenv("STATUSD_AGENT_ID");
    o->region = getenv("STATUSD_REGION");
    o->log_level = getenv("STATUSD_LOG_LEVEL");
    o->cert = getenv("STATUSD_CERT");
    o->collector_cert = getenv("STATUSD_COLLECTOR_CERT");
    const char *plain = getenv("STATUSD_INSECURE_PLAINTEXT");
    o->insecure_plaintext = plain && *plain && strcmp(plain, "0") != 0 &&
                            strcmp(plain, "false") != 0;
    static const struct option longopts[] = {
        {"cert", required_argument, NULL, 'K'},
        {"collector-cert", required_argument, NULL, 'C'},
        {"insecure-plaintext", no_argument, NULL, 'I'},
        {"collector", required_argument, NULL, 'c'},
        {"id", required_argument, NULL, 'i'},
        {"region", required_argument, NULL, 'r'},
        {"heartbeat-ms", required_argument, NULL, 'H'},
        {"max-pending", required_argument, NULL, 'P'},
        {"batch-max", required_argument, NULL, 'B'},
        {"spool-dir", required_argument, NULL, 'S'},
        {"spool-max-bytes", required_argument, NULL, 'M'},
        {"spool-max-age", required_argument, NULL, 'A'},
        {"spool-fsync-ms", required_argument, NULL, 'F'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":c:i:r:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->collector = optarg; break;
        case 'i': o->agent_id = optarg; break;
        case 'r': o->region = optarg; break;
        case 'H': hb = optarg; hb_name = "--heartbeat-ms"; break;
        case 'P': mp = optarg; mp_name = "--max-pending"; break;
        case 'B': bm = optarg; bm_name = "--batch-max"; break;
        case 'S': o->spool.dir = optarg; break;
        case 'M': sb = optarg; sb_name = "--spool-max-bytes"; break;
        case 'A': sa = optarg; sa_name = "--spool-max-age"; break;
        case 'F': sf = optarg; sf_name = "--spool-fsync-ms"; break;
        case 'L': o->log_level = optarg; break;
        case 'K': o->cert = optarg; break;
        case 'C': o->collector_cert = optarg; break;
        case 'I': o->insecure_plaintext = true; break;
        case 'h': s_usage(stdout); *exit_now = true; return 0;
        case 'V': printf("statusd-agent %s\n", STATUSD_VERSION); *exit_now = true; return 0;
        case ':': return s_usage_error("option %s needs a value", argv[optind - 1]);
        default: return s_usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return s_usage_error("unexpected argument %s", argv[optind]);
    o->heartbeat_ms = SD_HEARTBEAT_MS_DEFAULT;
    o->max_pending = 100000;
    o->batch_max = 500;
    if (hb && s_parse_long(hb, 10, SD_HEARTBEAT_MS_MAX, &o->heartbeat_ms) < 0)
        return s_usage_error("%s: expected an integer 10..%d, got \"%s\"", hb_name,
                             SD_HEARTBEAT_MS_MAX, hb);
    if (mp && s_parse_long(mp, 1, 100000000, &o->max_pending) < 0)
        return s_usage_error("%s: expected an integer 1..100000000, got \"%s\"", mp_name, mp);
    if (bm && s_parse_long(bm, 1, SD_BATCH_RESULTS_MAX, &o->batch_max) < 0)
        return s_usage_error("%s: expected an integer 1..%d, got \"%s\"", bm_name,
                             SD_BATCH_RESULTS_MAX, bm);
    o->spool.max_bytes = SPOOLER_DEFAULT_MAX_BYTES;
    o->spool.max_age_ms = SPOOLER_DEFAULT_MAX_AGE_MS;
    long fsync_ms = SPOOLER_DEFAULT_FSYNC_MS;
    if (sb && (spooler_parse_bytes(sb, &o->spool.max_bytes) < 0 ||
               o->spool.max_bytes < SPOOL_MIN_BYTES))
        return s_usage_error("%s: expected a size of at least 64K (bytes, or with K, M, G), "
                             "got \"%s\"", sb_name, sb);
    if (sa && (spooler_parse_duration_ms(sa, &o->spool.max_age_ms) < 0 ||
               o->spool.max_age_ms < 1000))
        return s_usage_error("%s: expected at least 1 s (seconds, or with s, m, h, d), got "
                             "\"%s\"", sa_name, sa);
    if (sf && s_parse_long(sf, 0, 3600000, &fsync_ms) < 0)
        return s_usage_error("%s: expected an integer 0..3600000, got \"%s\"", sf_name, sf);
    o->spool.fsync_ms = (int) fsync_ms;
    if (o->spool.dir && !*o->spool.dir)
        o->spool.dir = NULL;
    sd_log_level_t lvl;
    if (o->log_level && sd_log_parse_level(o->log_level, &lvl) < 0)
        return s_usage_error("--log-level: expected debug|info|warn|error, got %s", o->log_level);
    if (o->log_level)
        sd_log_set_level(lvl);
    if (!o->collector || !*o->collector)
        return s_usage_error("missing --collector (or STATUSD_COLLECTOR)");
    if (o->insecure_plaintext && ((o->cert && *o->cert) || (o->collector_cert && *o->collector_cert)))
        return s_usage_error("--insecure-plaintext and --cert/--collector-cert exclude each other");
    if (!o->insecure_plaintext && (!o->cert || !*o->cert || !o->collector_cert ||
                                   !*o->collector_cert))
        return s_usage_error("the collector connection must be authenticated: give --cert FILE "
                             "(this agent's NAME.cert_secret) and --collector-cert FILE (the "
                             "collector's NAME.cert); statusd-keygen makes them. For a test on "
                             "one host only: --insecure-plaintext");
    return 0;
}

/* Loads the certificates (CURVE) and takes the id and region from ours when not given.
 * 0, 1 when a file cannot be used, 2 on a usage error (printed). */
static int s_load_certs(s_opts_t *o, zcert_t **cert, zcert_t **server)
{
    char err[600];
    if (!o->insecure_plaintext) {
        if (sd_cert_load_secret(o->cert, cert, err, sizeof err) != 0 ||
            sd_cert_load_public(o->collector_cert, server, err, sizeof err) != 0) {
            fprintf(stderr, "statusd-agent: %s\n", err);
            return 1;
        }
        const char *name = sd_cert_meta(*cert, "name"), *region = sd_cert_meta(*cert, "region");
        if (!o->agent_id || !*o->agent_id)
            o->agent_id = *name ? name : NULL;
        else if (*name && strcmp(name, o->agent_id) != 0)
            return s_usage_error("--id %s: the certificate %s names agent %s, and the collector "
                                 "admits it only under that id", o->agent_id, o->cert, name);
        if (!o->region || !*o->region)
            o->region = *region ? region : NULL;
        else if (*region && strcmp(region, o->region) != 0)
            return s_usage_error("--region %s: the certificate %s allows region %s only",
                                 o->region, o->cert, region);
    }
    if (!o->agent_id || !*o->agent_id)
        return s_usage_error("missing --id (or STATUSD_AGENT_ID)");
    if (!o->region || !*o->region)
        return s_usage_error("missing --region (or STATUSD_REGION)");
    return 0;
}

/* Splits "a,b" into at most AGENT_MAX_ENDPOINTS endpoints in buf; count, or -EINVAL. */
static int s_split_endpoints(char *buf, const char **out)
{
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == AGENT_MAX_ENDPOINTS || !strstr(tok, "://"))
            return -EINVAL;
        out[n++] = tok;
    }
    return n > 0 ? n : -EINVAL;
}

static void s_on_result(probe_result_t *r, void *ctx)
{
    s_agent_t *a = ctx;
    if (outq_push(a->outq, &r)) {
        if (!a->dropping)
            sd_warn("agent", "pending results full, dropping oldest max_pending=%zu "
                    "dropped_total=%" PRIu64, outq_len(a->outq), outq_dropped(a->outq));
        a->dropping = true;
    } else
        a->dropping = false;
}

static int s_on_assignment(const Statusd__Assignment *as, void *ctx)
{
    s_agent_t *a = ctx;
    char err[256] = "";
    int n = sched_apply_assignment(a->sched, as, err, sizeof err);
    if (n < 0) {
        sd_error("agent", "cannot apply assignment version=%" PRIu64 " error=%s", as->version,
                 strerror(-n));
        return n;
    }
    sd_info("agent", "assignment applied version=%" PRIu64 " assets=%d", as->version, n);
    sched_stats_t st = sched_stats(a->sched);
    if (st.invalid)
        sd_warn("agent", "assignment version=%" PRIu64 " rejected assets=%" PRIu64 " first=\"%s\"",
                as->version, st.invalid, err);
    return n;
}

static void s_log_stats(s_agent_t *a)
{
    sched_stats_t s = sched_stats(a->sched);
    uplink_stats_t u = uplink_stats(a->uplink);
    char sp[400] = "";
    if (a->spooler)
        spooler_format_stats(a->spooler, sp, sizeof sp);
    sd_info("agent",
            "stats assets=%zu probes_started=%" PRIu64 " probes_skipped=%" PRIu64
            " probes_start_failed=%" PRIu64 " in_flight=%zu pending=%zu next_seq=%" PRIu64
            " results_dropped=%" PRIu64 " batches_sent=%" PRIu64 " results_sent=%" PRIu64
            " acks=%" PRIu64 " resends=%" PRIu64 " connects=%" PRIu64 " collector_lost=%" PRIu64
            " malformed=%" PRIu64 " send_blocked=%" PRIu64 " renumbered=%" PRIu64
            " heartbeats_sent=%" PRIu64 " heartbeats_received=%" PRIu64 " rtt_ms=%" PRId64
            " clock_skew_ms=%" PRId64 " assignment_version=%" PRIu64 "%s",
            s.assets, s.started, s.skipped, s.start_failed, s.in_flight, outq_len(a->outq),
            outq_next_seq(a->outq), outq_dropped(a->outq), u.batches_sent, u.results_sent,
            u.acks, u.resends, u.connects, u.collector_lost, u.malformed, u.send_blocked,
            u.renumbered, u.heartbeats_sent, u.heartbeats_received, u.rtt_ms, u.clock_skew_ms,
            uplink_assignment_version(a->uplink), sp);
}

static void s_on_stats(loop_t *loop, loop_timer_t *t, void *ctx)
{
    s_log_stats(ctx);
    loop_timer_start_in(t, AGENT_STATS_MS);
}

static void s_on_signal(loop_t *loop, int signo, void *ctx)
{
    if (signo == SIGHUP) {
        sd_info("agent", "SIGHUP ignored: the plan comes from the collector");
        return;
    }
    sd_info("agent", "shutting down signal=%s", strsignal(signo));
    loop_stop(loop);
}

int main(int argc, char **argv)
{
    s_opts_t o = {0};
    bool exit_now = false;
    int rc = s_parse_args(argc, argv, &o, &exit_now);
    if (rc || exit_now)
        return rc;
    zcert_t *cert = NULL, *server_cert = NULL;
    if ((rc = s_load_certs(&o, &cert, &server_cert)) != 0) {
        zcert_destroy(&cert);
        zcert_destroy(&server_cert);
        zsys_shutdown();
        return rc;
    }
    char *epbuf = strdup(o.collector);
    const char *endpoints[AGENT_MAX_ENDPOINTS];
    int n_ep = epbuf ? s_split_endpoints(epbuf, endpoints) : -ENOMEM;
    if (n_ep < 0) {
        free(epbuf);
        zcert_destroy(&cert);
        zcert_destroy(&server_cert);
        zsys_shutdown();
        return s_usage_error("--collector: expected tcp://HOST:PORT[,tcp://HOST:PORT...], got %s",
                             o.collector);
    }

    s_agent_t a = {0};
    int exit_code = 1;
    curl_glue_t *curl = NULL;
    resolver_t *resolver = NULL;
    a.loop = loop_new();
    if (!a.loop || loop_signals_enable(a.loop, s_on_signal, &a) < 0) {
        sd_error("agent", "cannot create event loop error=%s", strerror(errno));
        goto out;
    }
    zsys_handler_set(NULL); /* the loop's signalfd owns SIGINT/SIGTERM/SIGHUP */
    zsys_init();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        sd_error("agent", "cannot initialise libcurl");
        goto out;
    }
    curl = curl_glue_new(a.loop);
    char rerr[200] = "";
    resolver = resolver_new(a.loop, NULL, rerr, sizeof rerr);
    if (!resolver) {
        sd_error("agent", "cannot start the DNS resolver error=%s", rerr);
        goto out;
    }
    a.outq = outq_new((size_t) o.max_pending, (uint64_t) sd_wall_us());
    uint64_t replayed_through = 0;
    if (a.outq && o.spool.dir) {
        char serr[512] = "";
        a.spooler = spooler_new(a.loop, a.outq, &o.spool, &replayed_through, serr, sizeof serr);
        if (!a.spooler) {
            sd_error("agent", "%s", serr);
            goto out;
        }
    }
    probe_env_t env = {.loop = a.loop, .curl = curl};
    probe_set_resolver(a.loop, resolver);
    a.sched = curl ? sched_new(&env, s_on_result, &a) : NULL;
    uplink_config_t ucfg = {
        .agent_id = o.agent_id,
        .region = o.region,
        .endpoints = endpoints,
        .n_endpoints = (size_t) n_ep,
        .heartbeat_ms = (int) o.heartbeat_ms,
        .batch_max = (size_t) o.batch_max,
        .cert = cert,
        .server_key = server_cert ? zcert_public_txt(server_cert) : NULL,
        .replayed_through = replayed_through,
        .before_send = a.spooler ? spooler_before_send : NULL,
        .before_send_ctx = a.spooler,
    };
    a.uplink = a.outq ? uplink_new(a.loop, a.outq, &ucfg, s_on_assignment, &a) : NULL;
    if (!curl || !a.outq || !a.sched || !a.uplink) {
        sd_error("agent", "out of memory at start");
        goto out;
    }
    sd_info("agent", "starting version=%s id=%s region=%s collector=%s heartbeat_ms=%ld "
            "max_pending=%ld batch_max=%ld first_seq=%" PRIu64 " transport=%s", STATUSD_VERSION,
            o.agent_id, o.region, o.collector, o.heartbeat_ms, o.max_pending, o.batch_max,
            outq_next_seq(a.outq), cert ? "curve" : "INSECURE-PLAINTEXT");
    if (!cert)
        sd_warn("agent", "INSECURE: --insecure-plaintext: results and assignments (with any "
                "credentials in probe options) cross the network in clear, and the collector "
                "cannot tell this agent from an impostor");
    if ((rc = uplink_start(a.uplink)) < 0) {
        sd_error("agent", "cannot start uplink error=%s", strerror(-rc));
        goto out;
    }
    loop_timer_init(a.loop, &a.stats_timer, s_on_stats, &a);
    loop_timer_start_in(&a.stats_timer, AGENT_STATS_MS);
    rc = loop_run(a.loop);
    if (rc < 0)
        sd_error("agent", "event loop failed error=%s", strerror(-rc));
    else
        exit_code = 0;
    s_log_stats(&a);
    loop_timer_stop(&a.stats_timer);
out:
    uplink_destroy(&a.uplink);
    sched_destroy(&a.sched);
    spooler_destroy(&a.spooler); /* before the outq it follows */
    curl_glue_destroy(&curl);
    probe_set_resolver(a.loop, NULL);
    resolver_destroy(&resolver);
    if (a.outq && outq_len(a.outq))
        sd_warn("agent", "exiting with unacked results pending=%zu", outq_len(a.outq));
    outq_destroy(&a.outq);
    size_t left = loop_destroy(&a.loop);
    if (left)
        sd_warn("agent", "event loop still had registrations at exit count=%zu", left);
    tls_conn_global_cleanup();
    curl_global_cleanup();
    zcert_destroy(&cert);
    zcert_destroy(&server_cert);
    zsys_shutdown();
    free(epbuf);
    if (exit_code == 0)
        sd_info("agent", "stopped");
    return exit_code;
}
