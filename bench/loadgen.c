/* statusd-loadgen: simulates many agents against a collector, for bench/collector_bench.py.
 *
 * Each simulated agent is one DEALER socket speaking the wire protocol (proto/statusd.proto)
 * like statusd-agent does: Hello, then, once the collector answered it with Ack{hello_reply},
 * ResultBatches of consecutive sequence numbers covering every asset in turn (asset i of N is
 * seq mod N, so all agents report all assets), Heartbeats, and Acks read back. Batches are
 * pipelined with at most --window unacknowledged batches per agent; nothing is resent unless
 * acks stop progressing for 3 heartbeat periods (then, like the agent, it resends from the
 * first unacknowledged result: results are a pure function of seq, so they are regenerated).
 *
 * --fail-asset ID --fail-agents K --fail-at-ms T: from wall time T, the first K agents report
 * asset ID as failing (connection refused). Each failing result of that asset is printed with
 * the wall time its batch was sent, so the driver can time quorum -> incident -> notification.
 *
 * Output (stdout, one line each, flushed): "ready ..." once every agent's Hello is answered,
 * "progress wall_ms=.. sent=.. acked=.." every --progress-ms, "fail agent=.. nth=.. seq=..
 * sent_wall_ms=.." for failing results, "done {json}" at the end. */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_cert.h"
#include "sd_clock.h"
#include "statusd.pb-c.h"

#define MAX_AGENTS 64
#define MAX_BATCH 10000
#define MAX_PHASES 4
#define FAIL_PRINTED 4   /* failing results printed per agent */

typedef struct {
    const char *endpoint;
    int agents;
    int assets;
    const char *prefix;
    int batch;
    int window;
    double duration_s;
    double rate;           /* total results/s over all agents; 0 = as fast as acked */
    int heartbeat_ms;
    int phases;
    int progress_ms;
    const char *fail_asset;
    int fail_agents;
    int64_t fail_at_ms;
    const char *agents_dir;      /* CURVE: write each agent's public certificate here */
    const char *collector_cert;  /* CURVE: the collector's public certificate */
} opts_t;

typedef struct {
    char id[32];
    char region[32];
    zsock_t *sock;
    void *raw;
    bool running;          /* Hello answered */
    uint64_t next_seq;     /* next sequence number to send */
    uint64_t acked;        /* through_seq of the last Ack */
    uint64_t base_seq;     /* asset index = (seq - base_seq) mod assets */
    uint64_t fail_from;    /* first seq reported failing for the fail asset; 0 = none */
    int fail_sent;
    uint64_t fail_last_seq; /* highest failing seq printed */
    sd_ms_t last_progress; /* last ack progress, or when results became pending */
    sd_ms_t next_hb;
    sd_ms_t hello_at;
    uint64_t sent_results, resends, acks, assignments, malformed, hellos;
} sim_agent_t;

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void) sig;
    s_stop = 1;
}

static char **s_ids;
static int s_fail_idx = -1;
static opts_t s_o;

/* batch scratch, reused for every batch */
static Statusd__ProbeResult s_res[MAX_BATCH];
static Statusd__ProbeResult *s_resp[MAX_BATCH];
static Statusd__Phase s_ph[MAX_BATCH][MAX_PHASES];
static Statusd__Phase *s_php[MAX_BATCH][MAX_PHASES];
static uint8_t *s_buf;
static size_t s_buf_cap;

static const char *const PHASE_NAMES[MAX_PHASES] = {"dns", "connect", "processing", "transfer"};

static int s_send_env(sim_agent_t *a, const Statusd__Envelope *env)
{
    size_t len = statusd__envelope__get_packed_size(env);
    if (len > s_buf_cap) {
        uint8_t *nb = realloc(s_buf, len);
        if (!nb)
            return -ENOMEM;
        s_buf = nb;
        s_buf_cap = len;
    }
    statusd__envelope__pack(env, s_buf);
    return zmq_send(a->raw, s_buf, len, 0) < 0 ? -errno : 0;
}

static int s_send_hello(sim_agent_t *a)
{
    static char *types[] = {"http"};
    Statusd__Hello h = STATUSD__HELLO__INIT;
    h.agent_id = a->id;
    h.region = a->region;
    h.version = "loadgen";
    h.n_probe_types = 1;
    h.probe_types = types;
    h.first_unacked_seq = a->acked + 1 > a->next_seq ? a->next_seq : a->acked + 1;
    h.sent_at_ms = sd_wall_ms();
    h.heartbeat_ms = (uint32_t) s_o.heartbeat_ms;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    a->hello_at = sd_mono_ms();
    a->running = false;
    return s_send_env(a, &env);
}

static int s_send_heartbeat(sim_agent_t *a)
{
    Statusd__Heartbeat hb = STATUSD__HEARTBEAT__INIT;
    hb.sent_at_ms = sd_wall_ms();
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    return s_send_env(a, &env);
}

/* Fills and sends results [a->next_seq, a->next_seq + n). */
static int s_send_batch(sim_agent_t *a, int idx, int n, int64_t wall)
{
    for (int k = 0; k < n; k++) {
        uint64_t seq = a->next_seq + (uint64_t) k;
        int asset = (int) ((seq - a->base_seq) % (uint64_t) s_o.assets);
        Statusd__ProbeResult *r = &s_res[k];
        statusd__probe_result__init(r);
        r->seq = seq;
        r->asset_id = s_ids[asset];
        r->started_at_ms = wall;
        r->latency_us = 1000 + (uint32_t) (seq % 4000);
        bool fail = asset == s_fail_idx && a->fail_from && seq >= a->fail_from;
        r->success = !fail;
        r->status_code = fail ? 0 : 200;
        r->reason = fail ? "connect: Connection refused" : "";
        r->n_phases = fail ? 1 : (size_t) s_o.phases;
        for (size_t p = 0; p < r->n_phases; p++) {
            statusd__phase__init(&s_ph[k][p]);
            s_ph[k][p].name = (char *) PHASE_NAMES[fail ? 1 : p];
            s_ph[k][p].duration_us = r->latency_us / 4;
            s_php[k][p] = &s_ph[k][p];
        }
        r->phases = s_php[k];
        s_resp[k] = r;
        if (fail && a->fail_sent < FAIL_PRINTED && seq > a->fail_last_seq) {
            /* first transmission of this failing result (a resend is not printed again) */
            a->fail_sent++;
            a->fail_last_seq = seq;
            printf("fail agent=%s agent_index=%d nth=%d seq=%" PRIu64 " sent_wall_ms=%" PRId64
                   "\n", a->id, idx, a->fail_sent, seq, wall);
            fflush(stdout);
        }
    }
    Statusd__ResultBatch b = STATUSD__RESULT_BATCH__INIT;
    b.n_results = (size_t) n;
    b.results = s_resp;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_RESULT_BATCH;
    env.result_batch = &b;
    int rc = s_send_env(a, &env);
    if (rc == 0) {
        if (a->next_seq - 1 == a->acked)
            a->last_progress = sd_mono_ms();
        a->next_seq += (uint64_t) n;
        a->sent_results += (uint64_t) n;
    }
    return rc;
}

static void s_on_message(sim_agent_t *a)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, a->raw, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return;
    }
    Statusd__Envelope *env =
        statusd__envelope__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
    zmq_msg_close(&msg);
    if (!env) {
        a->malformed++;
        return;
    }
    switch (env->body_case) {
    case STATUSD__ENVELOPE__BODY_ACK:
        if (env->ack->hello_reply) {
            uint64_t hwm = env->ack->through_seq;
            if (hwm >= a->next_seq)
                a->next_seq = hwm + 1;   /* results we never sent: numbered above the mark */
            if (hwm > a->acked)
                a->acked = hwm;
            if (a->acked + 1 < a->next_seq) {
                a->next_seq = a->acked + 1;  /* resend what the new connection lacks */
                a->resends++;
            }
            if (!a->base_seq)
                a->base_seq = a->next_seq;
            a->running = true;
            a->last_progress = sd_mono_ms();
        } else if (env->ack->through_seq > a->acked) {
            a->acked = env->ack->through_seq;
            a->last_progress = sd_mono_ms();
            a->acks++;
        }
        break;
    case STATUSD__ENVELOPE__BODY_ASSIGNMENT:
        a->assignments++;
        break;
    case STATUSD__ENVELOPE__BODY_HEARTBEAT:
        /* like the agent: a Hello already on its way answers it (every batch still in
         * flight draws its own hello_required) */
        if (env->heartbeat->hello_required &&
            (a->running || sd_mono_ms() - a->hello_at >= s_o.heartbeat_ms)) {
            a->hellos++;
            s_send_hello(a);
        }
        break;
    default:
        break;
    }
    statusd__envelope__free_unpacked(env, NULL);
}

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: statusd-loadgen --collector ENDPOINT [options]\n"
            "  --collector EP      collector ZeroMQ endpoint (tcp://127.0.0.1:5555)\n"
            "  --agents N          simulated agents [5]\n"
            "  --assets N          assets, ids PREFIX0..PREFIX(N-1) [10000]\n"
            "  --prefix S          asset id prefix [scale-]\n"
            "  --batch N           results per ResultBatch [500]\n"
            "  --window N          unacked batches in flight per agent [8]\n"
            "  --duration S        seconds of sending once all agents are ready [60]\n"
            "  --rate R            total results/s over all agents, 0 = as fast as acked [0]\n"
            "  --heartbeat-ms MS   heartbeat period [1000]\n"
            "  --phases N          phases per successful result, 0..4 [4]\n"
            "  --progress-ms MS    progress line period [1000]\n"
            "  --agents-dir DIR --collector-cert FILE\n"
            "                      CURVE: a key pair per agent, its public certificate written\n"
            "                      to DIR (the collector's --agents-dir); else plain text\n"
            "  --fail-asset ID --fail-agents K --fail-at-ms UNIX_MS\n"
            "                      the first K agents report ID failing from that wall time\n");
}

static int s_parse(int argc, char **argv)
{
    s_o = (opts_t){.agents = 5, .assets = 10000, .prefix = "scale-", .batch = 500,
                   .window = 8, .duration_s = 60, .heartbeat_ms = 1000, .phases = 4,
                   .progress_ms = 1000};
    static const struct option longopts[] = {
        {"collector", required_argument, NULL, 'c'}, {"agents", required_argument, NULL, 'a'},
        {"assets", required_argument, NULL, 'n'},    {"prefix", required_argument, NULL, 'p'},
        {"batch", required_argument, NULL, 'b'},     {"window", required_argument, NULL, 'w'},
        {"duration", required_argument, NULL, 'd'},  {"rate", required_argument, NULL, 'r'},
        {"heartbeat-ms", required_argument, NULL, 'H'},
        {"phases", required_argument, NULL, 'P'},
        {"progress-ms", required_argument, NULL, 'g'},
        {"fail-asset", required_argument, NULL, 'f'},
        {"fail-agents", required_argument, NULL, 'k'},
        {"fail-at-ms", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {"agents-dir", required_argument, NULL, 'D'},
        {"collector-cert", required_argument, NULL, 'C'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': s_o.endpoint = optarg; break;
        case 'a': s_o.agents = atoi(optarg); break;
        case 'n': s_o.assets = atoi(optarg); break;
        case 'p': s_o.prefix = optarg; break;
        case 'b': s_o.batch = atoi(optarg); break;
        case 'w': s_o.window = atoi(optarg); break;
        case 'd': s_o.duration_s = atof(optarg); break;
        case 'r': s_o.rate = atof(optarg); break;
        case 'H': s_o.heartbeat_ms = atoi(optarg); break;
        case 'P': s_o.phases = atoi(optarg); break;
        case 'g': s_o.progress_ms = atoi(optarg); break;
        case 'f': s_o.fail_asset = optarg; break;
        case 'k': s_o.fail_agents = atoi(optarg); break;
        case 't': s_o.fail_at_ms = strtoll(optarg, NULL, 10); break;
        case 'D': s_o.agents_dir = optarg; break;
        case 'C': s_o.collector_cert = optarg; break;
        case 'h': s_usage(stdout); exit(0);
        default: s_usage(stderr); return -EINVAL;
        }
    }
    if (!s_o.endpoint || optind != argc || s_o.agents < 1 || s_o.agents > MAX_AGENTS ||
        s_o.assets < 1 || s_o.assets > 10000000 || s_o.batch < 1 || s_o.batch > MAX_BATCH ||
        s_o.window < 1 || s_o.duration_s <= 0 || s_o.rate < 0 || s_o.heartbeat_ms < 100 ||
        s_o.phases < 0 || s_o.phases > MAX_PHASES || s_o.progress_ms < 10 ||
        s_o.fail_agents < 0 || s_o.fail_agents > s_o.agents) {
        s_usage(stderr);
        return -EINVAL;
    }
    return 0;
}

static void s_totals(const sim_agent_t *ag, uint64_t *sent, uint64_t *acked)
{
    *sent = *acked = 0;
    for (int i = 0; i < s_o.agents; i++) {
        *sent += ag[i].sent_results;
        if (ag[i].base_seq && ag[i].acked >= ag[i].base_seq)
            *acked += ag[i].acked - ag[i].base_seq + 1;
    }
}

/* Sends what each running agent may send now: window, rate budget, stop time. */
static void s_pump(sim_agent_t *ag, sd_ms_t now, sd_ms_t t_start, bool sending)
{
    int64_t wall = sd_wall_ms();
    for (int i = 0; i < s_o.agents; i++) {
        sim_agent_t *a = &ag[i];
        if (!a->running)
            continue;
        if (i < s_o.fail_agents && s_fail_idx >= 0 && !a->fail_from && s_o.fail_at_ms &&
            wall >= s_o.fail_at_ms)
            a->fail_from = a->next_seq;
        if (a->next_seq - 1 > a->acked && now - a->last_progress > 3 * s_o.heartbeat_ms) {
            a->next_seq = a->acked + 1;   /* acks stopped: resend from the first unacked */
            a->resends++;
            a->last_progress = now;
        }
        if (!sending)
            continue;
        for (int burst = 0; burst < s_o.window; burst++) {
            if (a->next_seq - 1 - a->acked >= (uint64_t) s_o.window * (uint64_t) s_o.batch)
                break;
            int n = s_o.batch;
            if (s_o.rate > 0) {
                double budget = s_o.rate / s_o.agents * (double) (now - t_start) / 1000.0;
                double done = (double) (a->next_seq - a->base_seq);
                if (budget - done < n)
                    break;   /* whole batches only, as an agent under load sends them */
            }
            if (s_send_batch(a, i, n, wall) != 0)
                break;
        }
    }
}

int main(int argc, char **argv)
{
    if (s_parse(argc, argv) != 0)
        return 2;
    zsys_handler_set(NULL);
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    s_ids = calloc((size_t) s_o.assets, sizeof *s_ids);
    sim_agent_t *ag = calloc((size_t) s_o.agents, sizeof *ag);
    if (!s_ids || !ag)
        return 1;
    for (int i = 0; i < s_o.assets; i++) {
        if (asprintf(&s_ids[i], "%s%d", s_o.prefix, i) < 0)
            return 1;
        if (s_o.fail_asset && strcmp(s_ids[i], s_o.fail_asset) == 0)
            s_fail_idx = i;
    }
    if (s_o.fail_asset && s_fail_idx < 0) {
        fprintf(stderr, "statusd-loadgen: --fail-asset %s is not among the assets\n",
                s_o.fail_asset);
        return 2;
    }
    zmq_pollitem_t *items = calloc((size_t) s_o.agents, sizeof *items);
    zcert_t *server = NULL, *certs[MAX_AGENTS] = {0};
    if (s_o.agents_dir) {
        char err[512];
        if (!s_o.collector_cert ||
            sd_cert_load_public(s_o.collector_cert, &server, err, sizeof err) != 0) {
            fprintf(stderr, "statusd-loadgen: --collector-cert %s\n",
                    s_o.collector_cert ? err : "is needed with --agents-dir");
            return 2;
        }
        for (int i = 0; i < s_o.agents; i++) {
            char id[32], path[4096];
            snprintf(id, sizeof id, "loadgen-%d", i);
            snprintf(path, sizeof path, "%s/%s.cert", s_o.agents_dir, id);
            certs[i] = zcert_new();
            zcert_set_meta(certs[i], "name", "%s", id);
            if (zcert_save_public(certs[i], path) != 0) {
                fprintf(stderr, "statusd-loadgen: cannot write %s\n", path);
                return 1;
            }
        }
        /* the collector reads its agents directory every second */
        zclock_sleep(1500);
    }
    uint64_t seq0 = (uint64_t) sd_wall_us();
    for (int i = 0; i < s_o.agents; i++) {
        sim_agent_t *a = &ag[i];
        snprintf(a->id, sizeof a->id, "loadgen-%d", i);
        snprintf(a->region, sizeof a->region, "region-%d", i);
        a->sock = zsock_new(ZMQ_DEALER);
        if (!a->sock || !items)
            return 1;
        zsock_set_sndhwm(a->sock, s_o.window * 2 + 16);
        zsock_set_rcvhwm(a->sock, 100000);
        zsock_set_linger(a->sock, 0);
        if (certs[i]) {
            zcert_apply(certs[i], a->sock);
            zsock_set_curve_serverkey(a->sock, zcert_public_txt(server));
        }
        if (zsock_connect(a->sock, "%s", s_o.endpoint) != 0) {
            fprintf(stderr, "statusd-loadgen: cannot connect %s\n", s_o.endpoint);
            return 1;
        }
        a->raw = zsock_resolve(a->sock);
        items[i].socket = a->raw;
        items[i].events = ZMQ_POLLIN;
        a->next_seq = seq0;
        a->acked = seq0 - 1;
        s_send_hello(a);
        a->next_hb = sd_mono_ms() + s_o.heartbeat_ms;
    }

    sd_ms_t t_ready = 0, t_end = 0, next_progress = 0, deadline_ready = sd_mono_ms() + 30000;
    int rc = 0;
    while (!s_stop) {
        sd_ms_t now = sd_mono_ms();
        if (!t_ready) {
            int ready = 0;
            for (int i = 0; i < s_o.agents; i++)
                ready += ag[i].running;
            if (ready == s_o.agents) {
                t_ready = now;
                t_end = now + (sd_ms_t) (s_o.duration_s * 1000);
                next_progress = now;
                printf("ready wall_ms=%" PRId64 " agents=%d assets=%d\n", sd_wall_ms(),
                       s_o.agents, s_o.assets);
                fflush(stdout);
            } else if (now > deadline_ready) {
                fprintf(stderr, "statusd-loadgen: %d of %d agents answered in 30 s\n", ready,
                        s_o.agents);
                rc = 1;
                break;
            }
        }
        bool sending = t_ready && now < t_end;
        if (t_ready)
            s_pump(ag, now, t_ready, sending);
        for (int i = 0; i < s_o.agents; i++) {
            if (now >= ag[i].next_hb) {
                s_send_heartbeat(&ag[i]);
                ag[i].next_hb = now + s_o.heartbeat_ms;
            }
            if (!ag[i].running && now - ag[i].hello_at > 3 * s_o.heartbeat_ms) {
                ag[i].hellos++;
                s_send_hello(&ag[i]);
            }
        }
        if (t_ready && now >= next_progress) {
            uint64_t sent, acked;
            s_totals(ag, &sent, &acked);
            printf("progress wall_ms=%" PRId64 " sent=%" PRIu64 " acked=%" PRIu64 "\n",
                   sd_wall_ms(), sent, acked);
            fflush(stdout);
            next_progress += s_o.progress_ms;
        }
        if (t_ready && !sending) {
            bool all = true;
            for (int i = 0; i < s_o.agents; i++)
                all = all && ag[i].acked + 1 >= ag[i].next_seq;
            if (all || now > t_end + 15000)
                break;
        }
        if (zmq_poll(items, s_o.agents, s_o.rate > 0 ? 2 : 5) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < s_o.agents; i++) {
            /* drain: the socket may hold many acks */
            for (int k = 0; k < 1000; k++) {
                if (!(zsock_events(ag[i].sock) & ZMQ_POLLIN))
                    break;
                s_on_message(&ag[i]);
            }
        }
    }
    uint64_t sent, acked, resends = 0, acks = 0, assigns = 0, malformed = 0, unacked = 0;
    uint64_t hellos = 0;
    s_totals(ag, &sent, &acked);
    for (int i = 0; i < s_o.agents; i++) {
        resends += ag[i].resends;
        acks += ag[i].acks;
        assigns += ag[i].assignments;
        malformed += ag[i].malformed;
        hellos += ag[i].hellos;
        unacked += ag[i].next_seq - 1 - ag[i].acked;
    }
    double secs = t_ready ? (double) (sd_mono_ms() - t_ready) / 1000.0 : 0;
    printf("done {\"sent\": %" PRIu64 ", \"acked\": %" PRIu64 ", \"unacked\": %" PRIu64
           ", \"resends\": %" PRIu64 ", \"acks\": %" PRIu64 ", \"assignments\": %" PRIu64
           ", \"malformed\": %" PRIu64 ", \"hellos_again\": %" PRIu64
           ", \"seconds\": %.3f, \"interrupted\": %s}\n",
           sent, acked, unacked, resends, acks, assigns, malformed, hellos, secs,
           s_stop ? "true" : "false");
    fflush(stdout);
    for (int i = 0; i < s_o.agents; i++) {
        zsock_destroy(&ag[i].sock);
        zcert_destroy(&certs[i]);
    }
    zcert_destroy(&server);
    for (int i = 0; i < s_o.assets; i++)
        free(s_ids[i]);
    free(s_ids);
    free(ag);
    free(items);
    free(s_buf);
    return rc;
}
