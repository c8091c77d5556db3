/* statusd-collector: parses the command line, prepares the database, starts the actors in
 * dependency order (notifier, engine, ingest, gateway, api) and stops them in reverse on
 * SIGINT/SIGTERM. */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "channel.h"
#include "channel_curl.h"
#include "collector.h"
#include "deadman.h"
#include "engine.h"
#include "gateway.h"
#include "health.h"
#include "ingest.h"
#include "metrics.h"
#include "notifier.h"
#include "reload.h"
#include "sd_cert.h"
#include "sd_clock.h"
#include "sd_config.h"
#include "sd_limits.h"
#include "sd_log.h"
#include "store.h"
#include "store_agents.h"
#include "store_assets.h"
#include "store_retention.h"

#define COMP "collector"
#define DB_WAIT_MS 60000
/* while unhealthy, the health report is logged again this often */
#define HEALTH_LOG_MS 60000

typedef struct {
    const char *manifest, *notifiers, *db, *bind, *api_bind, *migrations, *log_level;
    const char *api_port, *heartbeat_ms, *retention_days, *history_days, *api_token_file;
    const char *max_series;
    const char *health_stuck, *health_db, *deadman_url, *deadman_interval, *deadman_method;
    const char *cert, *agents_dir, *max_frame;
    bool insecure_plaintext;
    const char *agent_forget;
    const char *test_notifier;
} args_t;

static const struct option s_options[] = {
    {"manifest", required_argument, NULL, 'm'},
    {"notifiers", required_argument, NULL, 'n'},
    {"db", required_argument, NULL, 'd'},
    {"bind", required_argument, NULL, 'b'},
    {"api-port", required_argument, NULL, 'p'},
    {"api-bind", required_argument, NULL, 'a'},
    {"migrations", required_argument, NULL, 'M'},
    {"heartbeat-ms", required_argument, NULL, 'H'},
    {"retention-days", required_argument, NULL, 'r'},
    {"history-days", required_argument, NULL, 'Y'},
    {"log-level", required_argument, NULL, 'l'},
    {"api-token-file", required_argument, NULL, 'T'},
    {"metrics-max-series", required_argument, NULL, 'S'},
    {"health-stuck-seconds", required_argument, NULL, 's'},
    {"health-db-seconds", required_argument, NULL, 'D'},
    {"deadman-url", required_argument, NULL, 'u'},
    {"deadman-interval", required_argument, NULL, 'i'},
    {"deadman-method", required_argument, NULL, 'x'},
    {"cert", required_argument, NULL, 'C'},
    {"agents-dir", required_argument, NULL, 'A'},
    {"insecure-plaintext", no_argument, NULL, 'P'},
    {"max-frame-bytes", required_argument, NULL, 'F'},
    {"agent-forget-after", required_argument, NULL, 'G'},
    {"test-notifier", required_argument, NULL, 't'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: statusd-collector --manifest PATH --notifiers PATH --db CONNINFO [options]\n"
            "\n"
            "  --manifest PATH        assets to monitor (manifest.json)     env STATUSD_MANIFEST\n"
            "  --notifiers PATH       notification channels and policy     env STATUSD_NOTIFIERS\n"
            "  --db CONNINFO          libpq conninfo or URI; several hosts and\n"
            "                         target_session_attrs=read-write work  env STATUSD_DB\n"
            "  --bind ENDPOINT        ZeroMQ endpoint for agents [tcp://*:5555]  env STATUSD_BIND\n"
            "  --cert FILE            this collector's secret certificate (NAME.cert_secret from\n"
            "                         statusd-keygen): agents are authenticated and encrypted\n"
            "                         with CURVE                           env STATUSD_CERT\n"
            "  --agents-dir DIR       public certificates (NAME.cert) of the agents allowed in;\n"
            "                         read again every second               env STATUSD_AGENTS_DIR\n"
            "  --insecure-plaintext   no authentication, no encryption (tests on one host only;\n"
            "                         the agents need it too)    env STATUSD_INSECURE_PLAINTEXT=1\n"
            "  --max-frame-bytes N    largest frame an agent may send [4194304, 1048576 to\n"
            "                         16777216]; a larger one closes its connection\n"
            "                                                        env STATUSD_MAX_FRAME_BYTES\n"
            "  --api-port PORT        REST API, /metrics, status page [8080]  env STATUSD_API_PORT\n"
            "  --api-bind ADDR        API listen address [all interfaces]  env STATUSD_API_BIND\n"
            "  --api-token-file PATH  bearer tokens for API writes, one per line (# comments);\n"
            "                         without it every write is refused    env STATUSD_API_TOKEN_FILE\n"
            "  --migrations DIR       NNN_name.up.sql files [./migrations, else the installed\n"
            "                         share/statusd/migrations]            env STATUSD_MIGRATIONS\n"
            "  --heartbeat-ms MS      agent heartbeat period [" SD_LIMIT_STR(SD_HEARTBEAT_MS_DEFAULT)
            "]        env STATUSD_HEARTBEAT_MS\n"
            "  --retention-days N     days of raw results kept [30]        env STATUSD_RETENTION_DAYS\n"
            "  --history-days N       days of closed incidents, notifications, state history,\n"
            "                         maintenance windows and gone agents kept [400]\n"
            "                                                        env STATUSD_HISTORY_DAYS\n"
            "  --metrics-max-series N /metrics series kept at most [100000]; past it new\n"
            "                         series are refused and counted  env STATUSD_METRICS_MAX_SERIES\n"
            "  --health-stuck-seconds N  a part whose loop has not run for N s, or results\n"
            "                         stored and not judged for N s, make /api/health 503\n"
            "                         [30]                      env STATUSD_HEALTH_STUCK_SECONDS\n"
            "  --health-db-seconds N  a part without a successful database write for N s\n"
            "                         makes /api/health 503 [30]  env STATUSD_HEALTH_DB_SECONDS\n"
            "  --deadman-url URL      dead man's switch: request URL every interval while\n"
            "                         the collector is healthy     env STATUSD_DEADMAN_URL\n"
            "  --deadman-interval S   seconds between requests [60]  env STATUSD_DEADMAN_INTERVAL\n"
            "  --deadman-method M     GET or POST [GET]             env STATUSD_DEADMAN_METHOD\n"
            "  --agent-forget-after S an agent down or disconnected for S seconds is gone for\n"
            "                         good: its state and series are freed [86400]\n"
            "                                                  env STATUSD_AGENT_FORGET_AFTER\n"
            "  --log-level LEVEL      debug, info, warn, error [info]      env STATUSD_LOG_LEVEL\n"
            "  --test-notifier NAME   send a test message through notifier NAME of --notifiers,\n"
            "                         print the channel's answer and exit (0 delivered, 1 not);\n"
            "                         needs only --notifiers\n"
            "  --help                 this text\n"
            "  --version              print the version\n"
            "Flags win over environment variables. SIGHUP (or POST /api/reload) reloads\n"
            "--manifest and --notifiers without a restart.\n");
}

static const char *s_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Parses an integer in [lo, hi]; false when s is not one. */
static bool s_int(const char *s, long lo, long hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = (int) v;
    return true;
}

static bool s_is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ./migrations, then the installed share/statusd/migrations next to the binary, then the
 * source tree when run from a build directory, then the system prefixes. */
static const char *s_default_migrations(char *buf, size_t len)
{
    if (s_is_dir("./migrations"))
        return "./migrations";
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        const char *dir = dirname(exe);
        const char *rel[] = {"../share/statusd/migrations", "../migrations", "../../migrations"};
        for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
            snprintf(buf, len, "%s/%s", dir, rel[i]);
            if (s_is_dir(buf))
                return buf;
        }
    }
    if (s_is_dir("/usr/local/share/statusd/migrations"))
        return "/usr/local/share/statusd/migrations";
    return "/usr/share/statusd/migrations";
}

/* Exits 0 for --help/--version, 2 for a usage error; fills ctx otherwise. */
static void s_parse(int argc, char **argv, args_t *a)
{
    a->manifest = s_env("STATUSD_MANIFEST");
    a->notifiers = s_env("STATUSD_NOTIFIERS");
    a->db = s_env("STATUSD_DB");
    a->bind = s_env("STATUSD_BIND");
    a->api_port = s_env("STATUSD_API_PORT");
    a->api_bind = s_env("STATUSD_API_BIND");
    a->migrations = s_env("STATUSD_MIGRATIONS");
    a->heartbeat_ms = s_env("STATUSD_HEARTBEAT_MS");
    a->retention_days = s_env("STATUSD_RETENTION_DAYS");
    a->history_days = s_env("STATUSD_HISTORY_DAYS");
    a->log_level = s_env("STATUSD_LOG_LEVEL");
    a->api_token_file = s_env("STATUSD_API_TOKEN_FILE");
    a->max_series = s_env("STATUSD_METRICS_MAX_SERIES");
    a->health_stuck = s_env("STATUSD_HEALTH_STUCK_SECONDS");
    a->health_db = s_env("STATUSD_HEALTH_DB_SECONDS");
    a->deadman_url = s_env("STATUSD_DEADMAN_URL");
    a->deadman_interval = s_env("STATUSD_DEADMAN_INTERVAL");
    a->deadman_method = s_env("STATUSD_DEADMAN_METHOD");
    a->cert = s_env("STATUSD_CERT");
    a->agents_dir = s_env("STATUSD_AGENTS_DIR");
    a->max_frame = s_env("STATUSD_MAX_FRAME_BYTES");
    const char *plain = s_env("STATUSD_INSECURE_PLAINTEXT");
    a->insecure_plaintext = plain && strcmp(plain, "0") != 0 && strcmp(plain, "false") != 0;
    a->agent_forget = s_env("STATUSD_AGENT_FORGET_AFTER");
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", s_options, NULL)) != -1) {
        switch (c) {
        case 'm': a->manifest = optarg; break;
        case 'n': a->notifiers = optarg; break;
        case 'd': a->db = optarg; break;
        case 'b': a->bind = optarg; break;
        case 'p': a->api_port = optarg; break;
        case 'a': a->api_bind = optarg; break;
        case 'M': a->migrations = optarg; break;
        case 'H': a->heartbeat_ms = optarg; break;
        case 'r': a->retention_days = optarg; break;
        case 'Y': a->history_days = optarg; break;
        case 'l': a->log_level = optarg; break;
        case 'T': a->api_token_file = optarg; break;
        case 'S': a->max_series = optarg; break;
        case 's': a->health_stuck = optarg; break;
        case 'D': a->health_db = optarg; break;
        case 'u': a->deadman_url = optarg; break;
        case 'i': a->deadman_interval = optarg; break;
        case 'x': a->deadman_method = optarg; break;
        case 'C': a->cert = optarg; break;
        case 'A': a->agents_dir = optarg; break;
        case 'P': a->insecure_plaintext = true; break;
        case 'F': a->max_frame = optarg; break;
        case 'G': a->agent_forget = optarg; break;
        case 't': a->test_notifier = optarg; break;
        case 'h': s_usage(stdout); exit(0);
        case 'V': printf("statusd-collector %s\n", STATUSD_VERSION); exit(0);
        case ':':
            fprintf(stderr, "statusd-collector: option %s needs a value (see --help)\n",
                    argv[optind - 1]);
            exit(2);
        default:
            fprintf(stderr, "statusd-collector: unknown option %s (see --help)\n",
                    argv[optind - 1]);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "statusd-collector: unexpected argument %s (see --help)\n",
                argv[optind]);
        exit(2);
    }
    const char *missing = !a->notifiers                       ? "--notifiers"
                          : a->test_notifier                  ? NULL
                          : !a->manifest                      ? "--manifest"
                          : !a->db                            ? "--db"
                                                              : NULL;
    if (missing) {
        fprintf(stderr, "statusd-collector: %s is required (see --help)\n", missing);
        exit(2);
    }
}

typedef struct {
    int stuck_s, db_s;
    deadman_conf_t deadman;   /* url NULL: off */
} watch_t;

/* The health and dead man's switch options; exits 2 on a bad value. */
static void s_watch_options(const args_t *a, watch_t *w)
{
    w->stuck_s = HEALTH_STUCK_MS_DEFAULT / 1000;
    w->db_s = HEALTH_DB_MS_DEFAULT / 1000;
    int interval = 60;
    if (a->health_stuck && !s_int(a->health_stuck, 2, 3600, &w->stuck_s)) {
        fprintf(stderr, "statusd-collector: --health-stuck-seconds: expected 2..3600, got %s\n",
                a->health_stuck);
        exit(2);
    }
    if (a->health_db && !s_int(a->health_db, 2, 3600, &w->db_s)) {
        fprintf(stderr, "statusd-collector: --health-db-seconds: expected 2..3600, got %s\n",
                a->health_db);
        exit(2);
    }
    if (a->deadman_interval && !s_int(a->deadman_interval, 1, 86400, &interval)) {
        fprintf(stderr, "statusd-collector: --deadman-interval: expected 1..86400, got %s\n",
                a->deadman_interval);
        exit(2);
    }
    bool post = false;
    if (a->deadman_method && strcasecmp(a->deadman_method, "POST") == 0)
        post = true;
    else if (a->deadman_method && strcasecmp(a->deadman_method, "GET") != 0) {
        fprintf(stderr, "statusd-collector: --deadman-method: expected GET or POST, got %s\n",
                a->deadman_method);
        exit(2);
    }
    if (a->deadman_url && strncmp(a->deadman_url, "http://", 7) != 0 &&
        strncmp(a->deadman_url, "https://", 8) != 0) {
        fprintf(stderr, "statusd-collector: --deadman-url: expected an http:// or https:// URL, "
                        "got %s\n", a->deadman_url);
        exit(2);
    }
    w->deadman = (deadman_conf_t){.url = a->deadman_url, .interval_ms = interval * 1000,
                                  .post = post};
}

/* Logs the health report when it changes between healthy and not, and again every
 * HEALTH_LOG_MS while unhealthy: a failing part is never silent for long. */
static void s_health_log(health_t *h, bool *was_ok, sd_ms_t *next_log)
{
    json_t *report = NULL;
    sd_ms_t now = sd_mono_ms();
    bool ok = health_check(h, now, &report);
    if (ok && !*was_ok) {
        sd_info(COMP, "collector healthy again");
    } else if (!ok && (*was_ok || now >= *next_log)) {
        char *text = report ? json_dumps(report, JSON_COMPACT) : NULL;
        sd_error(COMP, "collector unhealthy report=%s", text ? text : "?");
        free(text);
        *next_log = now + HEALTH_LOG_MS;
    }
    json_decref(report);
    *was_ok = ok;
}

static void s_ctx_numbers(const args_t *a, collector_ctx_t *ctx)
{
    ctx->api_port = 8080;
    ctx->heartbeat_ms = SD_HEARTBEAT_MS_DEFAULT;
    /* the agent's longest reconnect backoff: after a long outage a living agent may retry
     * that late, and must not be reported down for it */
    ctx->restart_grace_ms = SD_RESTART_GRACE_MS;
    ctx->retention_days = 30;
    ctx->history_days = HISTORY_DAYS_DEFAULT;
    if (a->api_port && !s_int(a->api_port, 0, 65535, &ctx->api_port)) {
        fprintf(stderr, "statusd-collector: --api-port: expected 0..65535, got %s\n",
                a->api_port);
        exit(2);
    }
    if (a->heartbeat_ms && !s_int(a->heartbeat_ms, 100, 3600000, &ctx->heartbeat_ms)) {
        fprintf(stderr, "statusd-collector: --heartbeat-ms: expected 100..3600000, got %s\n",
                a->heartbeat_ms);
        exit(2);
    }
    if (a->retention_days && !s_int(a->retention_days, 1, 36500, &ctx->retention_days)) {
        fprintf(stderr, "statusd-collector: --retention-days: expected 1..36500, got %s\n",
                a->retention_days);
        exit(2);
    }
    if (a->history_days && !s_int(a->history_days, 1, 36500, &ctx->history_days)) {
        fprintf(stderr, "statusd-collector: --history-days: expected 1..36500, got %s\n",
                a->history_days);
        exit(2);
    }
    int forget_s = (int) (AGENT_FORGET_MS_DEFAULT / 1000);
    if (a->agent_forget && !s_int(a->agent_forget, 1, 31536000, &forget_s)) {
        fprintf(stderr, "statusd-collector: --agent-forget-after: expected 1..31536000 "
                        "(seconds), got %s\n", a->agent_forget);
        exit(2);
    }
    ctx->agent_forget_ms = (int64_t) forget_s * 1000;
    ctx->metrics_max_series = METRICS_MAX_SERIES_DEFAULT;
    if (a->max_series && !s_int(a->max_series, 1000, 10000000, &ctx->metrics_max_series)) {
        fprintf(stderr,
                "statusd-collector: --metrics-max-series: expected 1000..10000000, got %s\n",
                a->max_series);
        exit(2);
    }
    if (a->log_level) {
        sd_log_level_t lv;
        if (sd_log_parse_level(a->log_level, &lv) != 0) {
            fprintf(stderr,
                    "statusd-collector: --log-level: expected debug, info, warn or error, "
                    "got %s\n",
                    a->log_level);
            exit(2);
        }
        sd_log_set_level(lv);
    }
}

/* Waits up to ms for one of the blocked signals; returns it, or 0 on timeout. */
static int s_wait_signal(const sigset_t *set, sd_ms_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig > 0 ? sig : 0;
}

/* Connects and migrates, retrying with backoff for DB_WAIT_MS so the collector may start
 * before PostgreSQL. NULL (logged) on failure, or with *stopped when a signal asks to stop. */
static store_t *s_prepare_db(const collector_ctx_t *ctx, const sigset_t *sigs, bool *stopped)
{
    sd_ms_t deadline = sd_mono_ms() + DB_WAIT_MS, backoff = 250;
    char err[1024] = "";
    store_t *store = NULL;
    for (;;) {
        store = store_new(ctx->db_conninfo, err, sizeof err);
        if (store)
            break;
        if (sd_mono_ms() + backoff > deadline) {
            sd_error(COMP, "database unavailable, giving up after %ds err=%s",
                     DB_WAIT_MS / 1000, err);
            return NULL;
        }
        sd_warn(COMP, "database unavailable, retrying in %" PRId64 "ms err=%s", backoff, err);
        if (s_wait_signal(sigs, backoff)) {
            sd_info(COMP, "stopping before the database was ready");
            *stopped = true;
            return NULL;
        }
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    if (store_migrate(store, ctx->migrations_dir, err, sizeof err) != 0) {
        sd_error(COMP, "migration failed err=%s", err);
        store_destroy(&store);
        return NULL;
    }
    const config_snap_t *conf = config_ref_get(ctx->config);
    int rc = store_assets_sync(store, conf->manifest, err, sizeof err);
    config_snap_put(&conf);
    if (rc != 0 || store_agents_all_disconnected(store, err, sizeof err) != 0) {
        sd_error(COMP, "database preparation failed err=%s", err);
        store_destroy(&store);
        return NULL;
    }
    return store;
}

/* The agents' transport: CURVE with --cert and --agents-dir, or plain text only with
 * --insecure-plaintext. Exits 2 on a usage error, 1 when the certificate cannot be read. */
static void s_transport(const args_t *a, collector_ctx_t *ctx)
{
    int max = GATEWAY_MAX_FRAME_DEFAULT;
    if (a->max_frame && !s_int(a->max_frame, GATEWAY_MAX_FRAME_MIN, GATEWAY_MAX_FRAME_MAX, &max)) {
        fprintf(stderr, "statusd-collector: --max-frame-bytes: expected %d..%d, got %s\n",
                GATEWAY_MAX_FRAME_MIN, GATEWAY_MAX_FRAME_MAX, a->max_frame);
        exit(2);
    }
    ctx->max_frame_bytes = (size_t) max;
    if (a->insecure_plaintext) {
        if (a->cert || a->agents_dir) {
            fprintf(stderr, "statusd-collector: --insecure-plaintext and --cert/--agents-dir "
                    "exclude each other\n");
            exit(2);
        }
        ctx->insecure_plaintext = true;
        return;
    }
    if (!a->cert || !a->agents_dir) {
        fprintf(stderr, "statusd-collector: agents must be authenticated: give --cert FILE (this "
                "collector's NAME.cert_secret) and --agents-dir DIR (the agents' NAME.cert "
                "files); statusd-keygen makes both. For a test on one host only: "
                "--insecure-plaintext\n");
        exit(2);
    }
    struct stat st;
    if (stat(a->agents_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "statusd-collector: --agents-dir %s: not a directory\n", a->agents_dir);
        exit(1);
    }
    char err[600];
    if (sd_cert_load_secret(a->cert, &ctx->server_cert, err, sizeof err) != 0) {
        fprintf(stderr, "statusd-collector: --cert %s\n", err);
        exit(1);
    }
    ctx->agents_dir = a->agents_dir;
}

/* --test-notifier NAME: one TEST message through the notifier's real channel; the answer on
 * stdout. 0 delivered, 1 not (or a bad file), 2 no such notifier. */
static int s_test_notifier(const args_t *a)
{
    char err[1024] = "";
    sd_notifiers_t *n = NULL;
    if (sd_notifiers_load(a->notifiers, &n, err, sizeof err) != 0 ||
        channel_check_all(n, err, sizeof err) != 0) {
        fprintf(stderr, "statusd-collector: %s%s%s\n", n ? a->notifiers : "", n ? ": " : "",
                err);
        sd_notifiers_destroy(&n);
        return 1;
    }
    const sd_notifier_conf_t *nc = sd_notifiers_find(n, a->test_notifier);
    if (!nc) {
        fprintf(stderr, "statusd-collector: %s: no notifier named \"%s\"\n", a->notifiers,
                a->test_notifier);
        sd_notifiers_destroy(&n);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_t *ev = channel_test_event(nc->name, sd_wall_ms());
    channel_outcome_t o = {CHANNEL_DEAD, -1, "render_error"};
    char answer[512] = "out of memory";
    if (ev)
        channel_curl_send_now(nc, ev, 5000, 15000, &o, answer, sizeof answer);
    json_decref(ev);
    static const char *const verdicts[] = {"delivered", "not delivered (temporary)",
                                           "not delivered (permanent)"};
    printf("notifier %s (%s): %s, reason %s: %s\n", nc->name, nc->type, verdicts[o.verdict],
           o.reason, answer);
    sd_notifiers_destroy(&n);
    curl_global_cleanup();
    return o.verdict == CHANNEL_SENT ? 0 : 1;
}

int main(int argc, char **argv)
{
    args_t args = {0};
    s_parse(argc, argv, &args);
    if (args.test_notifier)
        return s_test_notifier(&args);
    collector_ctx_t ctx = {0};
    s_ctx_numbers(&args, &ctx);
    s_transport(&args, &ctx);
    watch_t watch;
    s_watch_options(&args, &watch);
    char migrations[PATH_MAX + 64];
    ctx.db_conninfo = args.db;
    ctx.bind = args.bind ? args.bind : "tcp://*:5555";
    ctx.api_bind_addr = args.api_bind;
    ctx.migrations_dir =
        args.migrations ? args.migrations : s_default_migrations(migrations, sizeof migrations);

    /* this thread owns the signals: blocked before any actor thread inherits the mask */
    zsys_handler_set(NULL);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    char err[1024] = "";
    sd_manifest_t *manifest = NULL;
    sd_notifiers_t *notifiers = NULL;
    if (sd_manifest_load(args.manifest, &manifest, err, sizeof err) != 0 ||
        sd_notifiers_load(args.notifiers, &notifiers, err, sizeof err) != 0 ||
        channel_check_all(notifiers, err, sizeof err) != 0) {
        fprintf(stderr, "statusd-collector: %s%s%s\n", notifiers ? args.notifiers : "",
                notifiers ? ": " : "", err);
        sd_notifiers_destroy(&notifiers);
        sd_manifest_destroy(&manifest);
        zcert_destroy(&ctx.server_cert);
        return 1;
    }
    auth_t *tokens = NULL;
    if (args.api_token_file &&
        auth_load(args.api_token_file, &tokens, err, sizeof err) != 0) {
        fprintf(stderr, "statusd-collector: --api-token-file %s\n", err);
        sd_notifiers_destroy(&notifiers);
        sd_manifest_destroy(&manifest);
        zcert_destroy(&ctx.server_cert);
        return 1;
    }
    if (tokens)
        sd_info(COMP, "api writes enabled tokens=%zu", auth_count(tokens));
    else
        sd_info(COMP, "api writes disabled (no --api-token-file)");
    ctx.api_tokens = tokens;
    size_t n_assets = manifest->n_assets;
    /* from here the holder owns the configuration; a reload replaces it (reload.h) */
    ctx.config = config_ref_new(manifest, notifiers);
    if (ctx.config)
        manifest = NULL, notifiers = NULL;
    ctx.metrics = metrics_new();
    if (ctx.metrics)
        metrics_set_max_series(ctx.metrics, (size_t) ctx.metrics_max_series);
    ctx.health = health_new(watch.stuck_s * 1000, watch.db_s * 1000);
    reload_t *reload = ctx.config ? reload_new(args.manifest, args.notifiers, ctx.db_conninfo,
                                               ctx.config, ctx.metrics, ctx.health)
                                  : NULL;
    ctx.reload = reload;

    int rc = 1;
    zactor_t *notifier = NULL, *engine = NULL, *ingest = NULL, *gateway = NULL, *deadman = NULL;
    api_t *api = NULL;
    bool stopped = false;
    store_t *store = NULL;
    if (!ctx.config || !ctx.metrics || !ctx.health || !ctx.reload)
        goto out;
    store = s_prepare_db(&ctx, &sigs, &stopped);
    if (stopped)
        rc = 0;
    if (!store)
        goto out;
    store_destroy(&store);
    if (!(notifier = notifier_new(&ctx)) || !(engine = engine_new(&ctx)) ||
        !(ingest = ingest_new(&ctx)) || !(gateway = gateway_new(&ctx))) {
        sd_error(COMP, "an actor failed to start notifier=%s engine=%s ingest=%s gateway=%s",
                 notifier ? "ok" : "failed", engine ? "ok" : "failed",
                 ingest ? "ok" : "failed", gateway ? "ok" : "failed");
        goto out;
    }
    if (!(api = api_new(&ctx, err, sizeof err))) {
        sd_error(COMP, "api failed to start err=%s", err);
        goto out;
    }
    if (watch.deadman.url && !(deadman = deadman_new(&ctx, &watch.deadman))) {
        sd_error(COMP, "dead man's switch failed to start");
        goto out;
    }
    char *bound = gateway_endpoint(gateway);
    sd_info(COMP, "collector ready bind=%s api_port=%d assets=%zu migrations=%s agents=%s",
            bound ? bound : ctx.bind, api_port(api), n_assets, ctx.migrations_dir,
            ctx.server_cert ? "curve" : "INSECURE-PLAINTEXT");
    if (!ctx.server_cert)
        sd_warn(COMP, "INSECURE: --insecure-plaintext: anyone who reaches %s can speak as any "
                "agent and read every assignment; use --cert and --agents-dir",
                bound ? bound : ctx.bind);
    else
        sd_info(COMP, "collector public key=%s (agents need its NAME.cert for "
                "--collector-cert)", zcert_public_txt(ctx.server_cert));
    zstr_free(&bound);
    bool healthy = true;
    sd_ms_t next_health_log = 0;
    for (;;) {
        int sig = s_wait_signal(&sigs, 1000);
        if (sig == 0) {
            s_health_log(ctx.health, &healthy, &next_health_log);
            continue;
        }
        if (sig == SIGHUP) {
            reload_result_t res; /* logged and exported by the reload itself */
            reload_run(ctx.reload, "SIGHUP", &res);
            continue;
        }
        if (sig == SIGINT || sig == SIGTERM) {
            sd_info(COMP, "stopping signal=%d", sig);
            break;
        }
    }
    rc = 0;
out:
    zactor_destroy(&deadman);
    api_destroy(&api);
    zactor_destroy(&gateway);
    zactor_destroy(&ingest);
    zactor_destroy(&engine);
    zactor_destroy(&notifier);
    store_destroy(&store);
    metrics_destroy(&ctx.metrics);
    health_destroy(&ctx.health);
    zcert_destroy(&ctx.server_cert);
    reload_destroy(&reload);
    config_ref_destroy(&ctx.config);
    sd_notifiers_destroy(&notifiers);
    sd_manifest_destroy(&manifest);
    auth_destroy(&tokens);
    return rc;
}
