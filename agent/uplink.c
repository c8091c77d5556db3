/* The collector connection. One DEALER socket at a time; a lost collector means a new
 * socket (so the collector sees a new routing id and a fresh Hello), never a stall of the
 * probes, which keep filling the outq meanwhile. */
#include "uplink.h"
#include "uplink_msg.h"

#include "sd_clock.h"
#include "sd_limits.h"
#include "sd_log.h"

#include <czmq.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define UPLINK_MAX_INFLIGHT 16
#define UPLINK_MAX_MSG (64 * 1024 * 1024)
/* the collector gives an agent up after as many silent periods (sd_limits.h) */
#define UPLINK_SILENT_PERIODS SD_SILENT_PERIODS
/* the collector refuses larger batches (sd_limits.h) */
#define UPLINK_MAX_BATCH SD_BATCH_RESULTS_MAX
/* largest ResultBatch frame: the smallest frame limit a collector may be given (sd_limits.h) */
#define UPLINK_MAX_FRAME SD_AGENT_FRAME_MAX

struct uplink {
    loop_t *loop;
    outq_t *outq;
    uplink_assignment_fn *on_assignment;
    void *ctx;
    /* config (owned copies) */
    char *agent_id, *region;
    zcert_t *cert;          /* borrowed */
    char *server_key;
    char **endpoints;
    size_t n_endpoints, endpoint_i;
    int heartbeat_ms, hwm, backoff_min_ms, backoff_max_ms;
    size_t batch_max, max_inflight;
    /* connection */
    zsock_t *sock;
    loop_watcher_t *watcher;
    zsock_t *monitor;               /* PAIR receiving the socket's handshake events */
    loop_watcher_t *mon_watcher;
    unsigned monitor_n;
    bool auth_logged;
    loop_hook_t *hook;
    loop_timer_t hb_timer, reconnect_timer;
    bool started, hello_acked;
    uint64_t max_sent_ever;         /* highest seq this process ever sent (0: none) */
    uint64_t sent_through;          /* last seq sent on this pipeline (first_seq-1: none) */
    uint64_t max_sent;              /* highest seq ever sent on this connection */
    uint64_t last_batch_hi;         /* last seq of the previous batch since the hello reply */
    /* last seq of each unacked batch, oldest first (+1: a gap batch goes out twice) */
    uint64_t inflight[UPLINK_MAX_INFLIGHT + 1];
    size_t n_inflight;
    sd_ms_t last_rx, last_progress, connected_at;
    int backoff_ms;
    uint64_t assignment_version;
    void (*before_send)(void *ctx);
    void *before_send_ctx;
    bool malformed_logged, blocked_logged;
    uplink_stats_t stats;
};

/* --- sending ----------------------------------------------------------------- */

/* Packs env into one frame and sends it without blocking. 0, or -EAGAIN at the HWM. */
static int s_send(uplink_t *self, const Statusd__Envelope *env)
{
    size_t len = statusd__envelope__get_packed_size(env);
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, len) != 0)
        return -ENOMEM;
    statusd__envelope__pack(env, zmq_msg_data(&msg));
    if (zmq_msg_send(&msg, zsock_resolve(self->sock), ZMQ_DONTWAIT) < 0) {
        int e = errno;
        zmq_msg_close(&msg);
        self->stats.send_blocked++;
        if (!self->blocked_logged) {
            sd_warn("uplink", "send refused by high-water mark, will retry hwm=%d", self->hwm);
            self->blocked_logged = true;
        }
        return -e;
    }
    self->blocked_logged = false;
    return 0;
}

static void s_send_hello(uplink_t *self)
{
    Statusd__Hello hello = STATUSD__HELLO__INIT;
    const char *types[16];
    size_t n = 0;
    for (const struct probe_ops *o; n < 16 && (o = probe_at(n)); n++)
        types[n] = o->name;
    hello.agent_id = self->agent_id;
    hello.region = self->region;
    hello.version = (char *) STATUSD_VERSION;
    hello.probe_types = (char **) types;
    hello.n_probe_types = n;
    hello.assignment_version = self->assignment_version;
    hello.first_unacked_seq = outq_first_seq(self->outq);
    hello.sent_at_ms = sd_wall_ms();
    hello.heartbeat_ms = (uint32_t) self->heartbeat_ms;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    s_send(self, &env);
}

static void s_send_heartbeat(uplink_t *self)
{
    Statusd__Heartbeat hb = STATUSD__HEARTBEAT__INIT;
    hb.sent_at_ms = sd_wall_ms();
    hb.assignment_version = self->assignment_version;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    if (s_send(self, &env) == 0)
        self->stats.heartbeats_sent++;
}

/* Sends the pending results at positions pos..pos+count-1 as one ResultBatch; -EMSGSIZE
 * when its frame would exceed UPLINK_MAX_FRAME (nothing sent). */
static int s_send_batch(uplink_t *self, size_t pos, size_t count)
{
    Statusd__ProbeResult *res = calloc(count, sizeof *res);
    Statusd__ProbeResult **resp = calloc(count, sizeof *resp);
    Statusd__Phase *phases = calloc(count * PROBE_MAX_PHASES, sizeof *phases);
    Statusd__Phase **phasep = calloc(count * PROBE_MAX_PHASES, sizeof *phasep);
    int rc = -ENOMEM;
    if (!res || !resp || !phases || !phasep)
        goto out;
    for (size_t i = 0; i < count; i++) {
        const probe_result_t *r = outq_at(self->outq, pos + i);
        Statusd__ProbeResult *p = &res[i];
        statusd__probe_result__init(p);
        p->seq = r->seq;
        p->asset_id = r->asset_id;
        p->started_at_ms = r->started_at_ms;
        p->success = r->success;
        p->latency_us = r->latency_us;
        p->status_code = r->status_code;
        p->reason = (char *) r->reason;
        p->cert_expiry_unix = r->cert_expiry_unix;
        p->n_phases = r->n_phases;
        p->phases = &phasep[i * PROBE_MAX_PHASES];
        for (size_t k = 0; k < r->n_phases; k++) {
            Statusd__Phase *ph = &phases[i * PROBE_MAX_PHASES + k];
            statusd__phase__init(ph);
            ph->name = (char *) r->phases[k].name;
            ph->duration_us = r->phases[k].duration_us;
            p->phases[k] = ph;
        }
        resp[i] = p;
    }
    Statusd__ResultBatch batch = STATUSD__RESULT_BATCH__INIT;
    batch.results = resp;
    batch.n_results = count;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_RESULT_BATCH;
    env.result_batch = &batch;
    rc = count > 1 && statusd__envelope__get_packed_size(&env) > UPLINK_MAX_FRAME
             ? -EMSGSIZE
             : s_send(self, &env);
out:
    free(res);
    free(resp);
    free(phases);
    free(phasep);
    return rc;
}

/* Sends pending results not yet sent on this pipeline while batches in flight allow. */
static void s_pump(uplink_t *self)
{
    if (!self->sock || !self->hello_acked)
        return;
    if (self->before_send)
        self->before_send(self->before_send_ctx);
    while (self->n_inflight < self->max_inflight) {
        size_t pos = outq_pos(self->outq, self->sent_through + 1);
        size_t len = outq_len(self->outq);
        if (pos >= len)
            return;
        uint64_t first = outq_first_seq(self->outq);
        uint64_t start = outq_at(self->outq, pos)->seq;
        /* numbers missing before start: drop-oldest discarded results never sent, or the
         * spool lost records. The collector holds back a batch that does not continue the
         * previous one (one may have been lost on the way) until we start over from our
         * first unacked result: such a batch waits until it is that start (the results
         * before it acked), then goes out twice, the copy being the start over, so results
         * flow on at once instead of after the ack timeout */
        bool gap = self->last_batch_hi && start > self->last_batch_hi + 1;
        if (gap && start != first && self->n_inflight > 0)
            return;
        size_t count = len - pos > self->batch_max ? self->batch_max : len - pos;
        int rc;
        while ((rc = s_send_batch(self, pos, count)) == -EMSGSIZE)
            count /= 2; /* large results: fewer per frame */
        if (rc < 0)
            return;
        if (self->n_inflight == 0)
            self->last_progress = loop_now(self->loop); /* the ack clock starts now */
        self->sent_through = outq_at(self->outq, pos + count - 1)->seq;
        if (self->sent_through > self->max_sent)
            self->max_sent = self->sent_through;
        self->inflight[self->n_inflight++] = self->sent_through;
        if (self->sent_through > self->max_sent_ever)
            self->max_sent_ever = self->sent_through;
        self->stats.batches_sent++;
        self->stats.results_sent += count;
        if (gap && start == first && s_send_batch(self, pos, count) == 0) {
            self->inflight[self->n_inflight++] = self->sent_through;
            self->stats.batches_sent++;
            self->stats.gap_restarts++;
        }
        self->last_batch_hi = self->sent_through;
    }
}

/* --- connection lifecycle ------------------------------------------------------- */

static void s_drain(uplink_t *self);
static void s_on_monitor(loop_t *loop, loop_watcher_t *w, uint32_t revents, void *ctx);

/* Handshake events of the socket: a refused handshake is said clearly (else the agent would
 * only see a silent collector) and retried on a new socket with the reconnect backoff
 * (libzmq does not retry a connection the peer's authentication refused). */
static void s_monitor_start(uplink_t *self)
{
    char ep[96];
    snprintf(ep, sizeof ep, "inproc://statusd-uplink-monitor-%p-%u", (void *) self,
             self->monitor_n++);
    int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
    if (zmq_socket_monitor(zsock_resolve(self->sock), ep, events) != 0)
        return;
    self->monitor = zsock_new(ZMQ_PAIR);
    if (self->monitor && zsock_connect(self->monitor, "%s", ep) == 0)
        self->mon_watcher = loop_watch(self->loop, zsock_fd(self->monitor), EPOLLIN,
                                       s_on_monitor, self);
    if (!self->mon_watcher)
        zsock_destroy(&self->monitor);
}

static void s_monitor_stop(uplink_t *self)
{
    loop_unwatch(&self->mon_watcher);
    zsock_destroy(&self->monitor);
    if (self->sock)
        zmq_socket_monitor(zsock_resolve(self->sock), NULL, 0);
}

static void s_disconnect(uplink_t *self);
static void s_schedule_reconnect(uplink_t *self);

static void s_on_handshake(uplink_t *self, unsigned event)
{
    const char *ep = self->endpoints[self->endpoint_i];
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        self->auth_logged = false;
        return;
    }
    self->stats.handshake_failures++;
    bool log = !self->auth_logged;
    self->auth_logged = true;
    s_disconnect(self);
    s_schedule_reconnect(self);
    if (!log)
        return;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        sd_error("uplink", "the collector refused this agent's key endpoint=%s: its public "
                 "certificate (NAME.cert) must be in the collector's --agents-dir (retrying; "
                 "logged once)", ep);
    else
        sd_error("uplink", "handshake with the collector failed endpoint=%s: wrong "
                 "--collector-cert, or only one side runs --insecure-plaintext (retrying; "
                 "logged once)", ep);
}

static void s_on_monitor(loop_t *loop, loop_watcher_t *w, uint32_t revents, void *ctx)
{
    uplink_t *self = ctx;
    while (self->monitor && (zsock_events(self->monitor) & ZMQ_POLLIN)) {
        zmsg_t *m = zmsg_recv_nowait(self->monitor);
        if (!m)
            return;
        zframe_t *f = zmsg_first(m);
        if (f && zframe_size(f) >= 6) {
            uint16_t event;
            memcpy(&event, zframe_data(f), sizeof event);
            s_on_handshake(self, event);
        }
        zmsg_destroy(&m);
        if (!self->sock)
            return;
    }
}

static void s_on_readable(loop_t *loop, loop_watcher_t *w, uint32_t revents, void *ctx)
{
    s_drain(ctx);
}

static void s_before_sleep(loop_t *loop, void *ctx)
{
    uplink_t *self = ctx;
    if (self->monitor)
        s_on_monitor(loop, NULL, 0, self);
    s_drain(self); /* a send may have made the socket readable without the fd firing */
    s_pump(self);
    s_drain(self);
}

static int s_connect(uplink_t *self)
{
    const char *ep = self->endpoints[self->endpoint_i];
    self->sock = zsock_new(ZMQ_DEALER);
    if (!self->sock)
        return -ENOMEM;
    zsock_set_linger(self->sock, 0);
    zsock_set_sndhwm(self->sock, self->hwm);
    zsock_set_rcvhwm(self->sock, self->hwm);
    zsock_set_maxmsgsize(self->sock, UPLINK_MAX_MSG);
    zsock_set_reconnect_ivl(self->sock, self->backoff_min_ms);
    zsock_set_reconnect_ivl_max(self->sock, self->backoff_max_ms);
    if (self->cert) {
        zcert_apply(self->cert, self->sock);
        zsock_set_curve_serverkey(self->sock, self->server_key);
    }
    s_monitor_start(self); /* before the connect: its first handshake is an event too */
    if (zsock_connect(self->sock, "%s", ep) != 0) {
        int e = errno ? errno : EINVAL;
        s_monitor_stop(self);
        zsock_destroy(&self->sock);
        return -e;
    }
    self->watcher = loop_watch(self->loop, zsock_fd(self->sock), EPOLLIN, s_on_readable, self);
    if (!self->watcher) {
        int e = errno;
        zsock_destroy(&self->sock);
        return -e;
    }
    self->hello_acked = false;
    self->n_inflight = 0;
    self->max_sent = 0;
    self->last_batch_hi = 0;
    self->sent_through = outq_first_seq(self->outq) - 1;
    self->last_rx = loop_now(self->loop);
    self->connected_at = self->last_rx;
    self->stats.connects++;
    sd_info("uplink", "connecting endpoint=%s first_unacked_seq=%" PRIu64 " pending=%zu", ep,
            outq_first_seq(self->outq), outq_len(self->outq));
    s_send_hello(self);
    loop_timer_start_in(&self->hb_timer, self->heartbeat_ms);
    return 0;
}

static void s_disconnect(uplink_t *self)
{
    s_monitor_stop(self);
    loop_unwatch(&self->watcher);
    if (self->sock)
        zsock_destroy(&self->sock); /* linger 0: queued frames are discarded */
    self->hello_acked = false;
    self->n_inflight = 0;
    loop_timer_stop(&self->hb_timer);
}

static void s_schedule_reconnect(uplink_t *self)
{
    /* full jitter in [backoff/2, backoff], so agents do not reconnect in lockstep */
    int b = self->backoff_ms;
    int delay = b / 2 + (int) (random() % (b / 2 + 1));
    self->backoff_ms = b * 2 > self->backoff_max_ms ? self->backoff_max_ms : b * 2;
    sd_info("uplink", "reconnect scheduled delay_ms=%d", delay);
    loop_timer_start_in(&self->reconnect_timer, delay);
}

static void s_on_reconnect(loop_t *loop, loop_timer_t *t, void *ctx)
{
    uplink_t *self = ctx;
    self->endpoint_i = (self->endpoint_i + 1) % self->n_endpoints;
    int rc = s_connect(self);
    if (rc < 0) {
        sd_warn("uplink", "cannot connect endpoint=%s error=%s",
                self->endpoints[self->endpoint_i], strerror(-rc));
        s_schedule_reconnect(self);
    }
}

static void s_on_heartbeat(loop_t *loop, loop_timer_t *t, void *ctx)
{
    uplink_t *self = ctx;
    sd_ms_t now = loop_now(loop);
    sd_ms_t silent = now - self->last_rx;
    if (silent >= (sd_ms_t) UPLINK_SILENT_PERIODS * self->heartbeat_ms) {
        self->stats.collector_lost++;
        sd_warn("uplink", "collector lost endpoint=%s silent_ms=%" PRId64 " pending=%zu",
                self->endpoints[self->endpoint_i], (int64_t) silent, outq_len(self->outq));
        s_disconnect(self);
        s_schedule_reconnect(self);
        return;
    }
    if (!self->hello_acked &&
        now - self->connected_at >= (sd_ms_t) UPLINK_SILENT_PERIODS * self->heartbeat_ms) {
        /* the collector answers heartbeats but lost our Hello (its database was down, or a
         * queue was full): without a reply no batch may be sent, so say Hello again */
        self->stats.hello_timeouts++;
        sd_warn("uplink", "no reply to Hello, reconnecting endpoint=%s waited_ms=%" PRId64
                " pending=%zu", self->endpoints[self->endpoint_i],
                (int64_t) (now - self->connected_at), outq_len(self->outq));
        s_disconnect(self);
        s_schedule_reconnect(self);
        return;
    }
    loop_timer_start_in(t, self->heartbeat_ms);
    s_send_heartbeat(self);
    if (self->hello_acked && self->n_inflight > 0 &&
        now - self->last_progress >= (sd_ms_t) UPLINK_SILENT_PERIODS * self->heartbeat_ms) {
        /* the collector may have failed to commit; its storage is idempotent */
        self->stats.resends++;
        sd_warn("uplink", "no ack progress, resending from seq=%" PRIu64 " pending=%zu",
                outq_first_seq(self->outq), outq_len(self->outq));
        self->sent_through = outq_first_seq(self->outq) - 1;
        self->n_inflight = 0;
        s_pump(self);
    }
}

/* --- receiving ------------------------------------------------------------------- */

/* The collector does not know this connection (it restarted): say Hello again on the same
 * socket now instead of waiting for three silent heartbeat periods. Everything unacked is
 * resent after the Hello reply, as on any new connection. */
static void s_on_hello_required(uplink_t *self)
{
    sd_ms_t now = loop_now(self->loop);
    if (!self->hello_acked && now - self->connected_at < self->heartbeat_ms)
        return; /* a Hello is on its way; one answer per in-flight message may follow */
    self->stats.hello_requests++;
    sd_info("uplink", "collector does not know this connection (restarted?), saying Hello "
            "again endpoint=%s pending=%zu", self->endpoints[self->endpoint_i],
            outq_len(self->outq));
    self->hello_acked = false;
    self->n_inflight = 0;
    self->connected_at = now;
    s_send_hello(self);
}

static void s_on_hello_ack(uplink_t *self, uint64_t hwm)
{
    self->stats.hello_acks++;
    self->hello_acked = true;
    self->backoff_ms = self->backoff_min_ms;
    /* only a result this process sent can be one the collector stored */
    size_t n = outq_ack(self->outq, hwm < self->max_sent_ever ? hwm : self->max_sent_ever);
    self->stats.dropped_stored += n;
    if (outq_first_seq(self->outq) <= hwm) {
        /* the collector holds numbers at or above results we never sent (a restarted agent
         * whose clock went back, or another process with our id): storing them under those
         * numbers would skip them as duplicates, so renumber them above */
        outq_renumber(self->outq, hwm + 1);
        self->stats.renumbered++;
        sd_warn("uplink", "collector holds higher sequence numbers, renumbered pending "
                "from=%" PRIu64 " pending=%zu", hwm + 1, outq_len(self->outq));
    }
    self->sent_through = outq_first_seq(self->outq) - 1;
    self->n_inflight = 0;
    self->last_batch_hi = 0; /* the collector starts a new stream at the Hello */
    self->last_progress = loop_now(self->loop);
    sd_info("uplink", "connected endpoint=%s collector_hwm=%" PRIu64 " pending=%zu",
            self->endpoints[self->endpoint_i], hwm, outq_len(self->outq));
    s_pump(self);
}

static void s_on_ack(uplink_t *self, uint64_t through)
{
    self->stats.acks++;
    if (through > self->max_sent)
        through = self->max_sent; /* never drop what this connection has not sent */
    /* batches acked, even when drop-oldest already discarded their results (else the
     * window stays full and nothing is sent until the ack timeout) */
    size_t k = 0;
    while (k < self->n_inflight && self->inflight[k] <= through)
        k++;
    memmove(self->inflight, self->inflight + k, (self->n_inflight - k) * sizeof self->inflight[0]);
    self->n_inflight -= k;
    if (k > 0)
        self->last_progress = loop_now(self->loop);
    if (through >= outq_first_seq(self->outq)) {
        outq_ack(self->outq, through);
        self->last_progress = loop_now(self->loop);
    }
    if (self->sent_through < outq_first_seq(self->outq) - 1)
        self->sent_through = outq_first_seq(self->outq) - 1;
    s_pump(self);
}

static void s_on_assignment(uplink_t *self, const Statusd__Assignment *a)
{
    if (a->version == self->assignment_version) {
        self->stats.assignments_ignored++;
        return;
    }
    if (self->on_assignment(a, self->ctx) >= 0) {
        self->assignment_version = a->version;
        self->stats.assignments_applied++;
    }
}

static void s_malformed(uplink_t *self, const char *why)
{
    self->stats.malformed++;
    if (!self->malformed_logged) {
        sd_warn("uplink", "dropped malformed frame from collector reason=\"%s\" (logged once)",
                why);
        self->malformed_logged = true;
    }
}

static void s_handle(uplink_t *self, const uint8_t *data, size_t len)
{
    uplink_msg_t m;
    const char *why = "";
    int rc = uplink_msg_decode(data, len, sd_wall_ms(), &m, &why);
    if (rc == -EBADMSG) {
        s_malformed(self, why);
        return;
    }
    self->last_rx = loop_now(self->loop);
    if (rc < 0) {
        s_malformed(self, why);
        return;
    }
    switch (m.kind) {
    case UPLINK_MSG_HELLO_REPLY:
        s_on_hello_ack(self, m.through_seq);
        break;
    case UPLINK_MSG_ACK:
        if (self->hello_acked)
            s_on_ack(self, m.through_seq);
        break;
    case UPLINK_MSG_ASSIGNMENT:
        s_on_assignment(self, m.assignment);
        break;
    case UPLINK_MSG_HELLO_REQUIRED:
        self->stats.heartbeats_received++;
        s_on_hello_required(self);
        break;
    case UPLINK_MSG_HEARTBEAT:
        self->stats.heartbeats_received++;
        if (m.has_rtt) {
            self->stats.rtt_ms = m.rtt_ms;
            self->stats.clock_skew_ms = m.clock_skew_ms;
        }
        break;
    }
    uplink_msg_clear(&m);
}

/* Reads every frame the socket holds (it is edge-triggered). */
static void s_drain(uplink_t *self)
{
    while (self->sock && (zsock_events(self->sock) & ZMQ_POLLIN)) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        void *handle = zsock_resolve(self->sock);
        if (zmq_msg_recv(&msg, handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        if (zmq_msg_more(&msg)) {
            /* one Envelope per message: a multipart message is malformed; skip all parts */
            do {
                zmq_msg_close(&msg);
                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, handle, ZMQ_DONTWAIT) < 0)
                    break;
            } while (zmq_msg_more(&msg));
            zmq_msg_close(&msg);
            s_malformed(self, "multipart message");
            continue;
        }
        s_handle(self, zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
    }
}

/* --- public ---------------------------------------------------------------------- */

uplink_t *uplink_new(loop_t *loop, outq_t *outq, const uplink_config_t *cfg,
                     uplink_assignment_fn *on_assignment, void *ctx)
{
    if (!cfg || cfg->n_endpoints == 0 || !cfg->agent_id || !cfg->region || !on_assignment)
        return NULL;
    uplink_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    self->outq = outq;
    self->on_assignment = on_assignment;
    self->ctx = ctx;
    self->agent_id = strdup(cfg->agent_id);
    self->region = strdup(cfg->region);
    if ((cfg->cert == NULL) != (cfg->server_key == NULL)) {
        uplink_destroy(&self);
        return NULL;
    }
    self->cert = cfg->cert;
    if (cfg->server_key && !(self->server_key = strdup(cfg->server_key))) {
        uplink_destroy(&self);
        return NULL;
    }
    self->endpoints = calloc(cfg->n_endpoints, sizeof *self->endpoints);
    if (!self->agent_id || !self->region || !self->endpoints) {
        uplink_destroy(&self);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_endpoints; i++) {
        self->endpoints[i] = strdup(cfg->endpoints[i]);
        if (!self->endpoints[i]) {
            uplink_destroy(&self);
            return NULL;
        }
        self->n_endpoints++;
    }
    self->heartbeat_ms = cfg->heartbeat_ms > 0 ? cfg->heartbeat_ms : SD_HEARTBEAT_MS_DEFAULT;
    self->batch_max = cfg->batch_max > 0 ? cfg->batch_max : 500;
    if (self->batch_max > UPLINK_MAX_BATCH)
        self->batch_max = UPLINK_MAX_BATCH;
    self->max_inflight = cfg->max_inflight_batches > 0 ? cfg->max_inflight_batches : 4;
    if (self->max_inflight > UPLINK_MAX_INFLIGHT)
        self->max_inflight = UPLINK_MAX_INFLIGHT;
    self->hwm = cfg->hwm > 0 ? cfg->hwm : 1000;
    self->backoff_min_ms = cfg->backoff_min_ms > 0 ? cfg->backoff_min_ms
                                                : SD_RECONNECT_BACKOFF_MIN_MS;
    /* the collector's restart grace is this default (SD_RESTART_GRACE_MS) */
    self->backoff_max_ms = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms
                                                : SD_RECONNECT_BACKOFF_MAX_MS;
    if (self->backoff_max_ms < self->backoff_min_ms)
        self->backoff_max_ms = self->backoff_min_ms;
    self->backoff_ms = self->backoff_min_ms;
    self->stats.rtt_ms = -1;
    self->max_sent_ever = cfg->replayed_through;
    self->before_send = cfg->before_send;
    self->before_send_ctx = cfg->before_send_ctx;
    loop_timer_init(loop, &self->hb_timer, s_on_heartbeat, self);
    loop_timer_init(loop, &self->reconnect_timer, s_on_reconnect, self);
    return self;
}

void uplink_destroy(uplink_t **p)
{
    if (!p || !*p)
        return;
    uplink_t *self = *p;
    if (self->loop) {
        s_disconnect(self);
        loop_timer_stop(&self->reconnect_timer);
        loop_hook_remove(&self->hook);
    }
    for (size_t i = 0; i < self->n_endpoints; i++)
        free(self->endpoints[i]);
    free(self->endpoints);
    free(self->agent_id);
    free(self->region);
    free(self->server_key);
    free(self);
    *p = NULL;
}

int uplink_start(uplink_t *self)
{
    if (self->started)
        return -EALREADY;
    self->hook = loop_hook_add(self->loop, s_before_sleep, self);
    if (!self->hook)
        return -ENOMEM;
    self->started = true;
    self->endpoint_i = 0;
    int rc = s_connect(self);
    if (rc < 0) {
        sd_warn("uplink", "cannot connect endpoint=%s error=%s", self->endpoints[0],
                strerror(-rc));
        s_schedule_reconnect(self);
    }
    return 0;
}

bool uplink_ready(const uplink_t *self) { return self->hello_acked; }
uint64_t uplink_assignment_version(const uplink_t *self) { return self->assignment_version; }
uplink_stats_t uplink_stats(const uplink_t *self) { return self->stats; }
