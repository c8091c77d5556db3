/* hostile_peer: a ZeroMQ peer of the collector's agent socket that misbehaves on purpose,
 * for tests/integration/test_security.py. Not installed.
 *
 *   hostile_peer --endpoint EP [--cert SECRET --collector-cert PUBLIC] --id ID --region R
 *                [--wait-ms N] MODE [ARG]
 *
 * MODE: hello          one Hello (the plain-text intruder, or an agent with the wrong key)
 *       hello-flood N  N Hellos as fast as the socket takes them
 *       seq-jump ASSET a Hello, then a result of ASSET numbered INT64_MAX, then one numbered
 *                      with the wall clock in microseconds (the second must be acked)
 *       big-frame N    a Hello, then one frame of N bytes
 *       bomb N         a Hello, then N frames of 1 MiB of empty results (decode to ~50x)
 * It then reads what the collector sends for --wait-ms (default 3000) and prints one line
 * of JSON: {"hello_replies":n,"assignments":n,"acks":n,"max_ack":n,"heartbeats":n,"sent":n}. */
#include <czmq.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_cert.h"
#include "sd_clock.h"
#include "statusd.pb-c.h"

typedef struct {
    int hello_replies, assignments, acks, heartbeats, sent;
    uint64_t max_ack;
} seen_t;

static int s_send_env(zsock_t *s, const Statusd__Envelope *env)
{
    size_t len = statusd__envelope__get_packed_size(env);
    zframe_t *f = zframe_new(NULL, len);
    statusd__envelope__pack(env, zframe_data(f));
    return zframe_send(&f, s, 0);
}

static int s_hello(zsock_t *s, const char *id, const char *region)
{
    Statusd__Hello h = STATUSD__HELLO__INIT;
    h.agent_id = (char *) id;
    h.region = (char *) region;
    h.version = (char *) "hostile";
    h.sent_at_ms = sd_wall_ms();
    h.heartbeat_ms = 1000;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    return s_send_env(s, &env);
}

static int s_result(zsock_t *s, const char *asset, uint64_t seq)
{
    Statusd__ProbeResult r = STATUSD__PROBE_RESULT__INIT;
    r.seq = seq;
    r.asset_id = (char *) asset;
    r.started_at_ms = sd_wall_ms();
    r.success = true;
    r.latency_us = 1000;
    r.status_code = 200;
    Statusd__ProbeResult *rp = &r;
    Statusd__ResultBatch b = STATUSD__RESULT_BATCH__INIT;
    b.results = &rp;
    b.n_results = 1;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_RESULT_BATCH;
    env.result_batch = &b;
    return s_send_env(s, &env);
}

/* Reads for ms; stops early once stop_ack is acked (0: never). */
static void s_read(zsock_t *s, int ms, seen_t *seen, uint64_t stop_ack)
{
    sd_ms_t end = sd_mono_ms() + ms;
    zpoller_t *p = zpoller_new(s, NULL);
    while (sd_mono_ms() < end) {
        if (!zpoller_wait(p, (int) (end - sd_mono_ms())))
            continue;
        zframe_t *f = zframe_recv(s);
        if (!f)
            break;
        Statusd__Envelope *env = statusd__envelope__unpack(NULL, zframe_size(f), zframe_data(f));
        zframe_destroy(&f);
        if (!env)
            continue;
        if (env->body_case == STATUSD__ENVELOPE__BODY_ACK) {
            if (env->ack->hello_reply)
                seen->hello_replies++;
            else
                seen->acks++;
            if (env->ack->through_seq > seen->max_ack)
                seen->max_ack = env->ack->through_seq;
        } else if (env->body_case == STATUSD__ENVELOPE__BODY_ASSIGNMENT) {
            seen->assignments++;
        } else if (env->body_case == STATUSD__ENVELOPE__BODY_HEARTBEAT) {
            seen->heartbeats++;
        }
        statusd__envelope__free_unpacked(env, NULL);
        if (stop_ack && seen->max_ack >= stop_ack)
            break;
    }
    zpoller_destroy(&p);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"endpoint", required_argument, NULL, 'e'}, {"cert", required_argument, NULL, 'c'},
        {"collector-cert", required_argument, NULL, 'k'}, {"id", required_argument, NULL, 'i'},
        {"region", required_argument, NULL, 'r'}, {"wait-ms", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0}};
    const char *ep = NULL, *cert_path = NULL, *server_path = NULL, *id = "hostile",
               *region = "nowhere";
    int wait_ms = 3000, c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'e': ep = optarg; break;
        case 'c': cert_path = optarg; break;
        case 'k': server_path = optarg; break;
        case 'i': id = optarg; break;
        case 'r': region = optarg; break;
        case 'w': wait_ms = atoi(optarg); break;
        default: return 2;
        }
    }
    if (!ep || optind >= argc) {
        fprintf(stderr, "usage: see the comment at the top of hostile_peer.c\n");
        return 2;
    }
    const char *mode = argv[optind], *arg = optind + 1 < argc ? argv[optind + 1] : "1";
    zsys_init();
    zsys_set_logstream(NULL);
    zcert_t *cert = NULL, *server = NULL;
    char err[512];
    if (cert_path && (sd_cert_load_secret(cert_path, &cert, err, sizeof err) != 0 ||
                      sd_cert_load_public(server_path, &server, err, sizeof err) != 0)) {
        fprintf(stderr, "hostile_peer: %s\n", err);
        return 1;
    }
    zsock_t *s = zsock_new(ZMQ_DEALER);
    zsock_set_linger(s, 2000);
    zsock_set_sndhwm(s, 100000);
    if (cert) {
        zcert_apply(cert, s);
        zsock_set_curve_serverkey(s, zcert_public_txt(server));
    }
    zsock_connect(s, "%s", ep);
    seen_t seen = {0};
    if (strcmp(mode, "hello") == 0) {
        seen.sent += s_hello(s, id, region) == 0;
    } else if (strcmp(mode, "hello-flood") == 0) {
        for (long i = 0, n = atol(arg); i < n; i++)
            seen.sent += s_hello(s, id, region) == 0;
    } else if (strcmp(mode, "seq-jump") == 0) {
        seen.sent += s_hello(s, id, region) == 0;
        s_read(s, wait_ms, &seen, 0);
        if (seen.hello_replies) {
            seen.sent += s_result(s, arg, (uint64_t) INT64_MAX) == 0;
            s_read(s, 1000, &seen, 0);
            uint64_t good = (uint64_t) sd_wall_ms() * 1000;
            seen.sent += s_result(s, arg, good) == 0;
            s_read(s, wait_ms, &seen, good);
            printf("{\"good_seq\":%" PRIu64 "}\n", good);
        }
    } else if (strcmp(mode, "big-frame") == 0 || strcmp(mode, "bomb") == 0) {
        seen.sent += s_hello(s, id, region) == 0;
        s_read(s, 1000, &seen, 0);
        bool bomb = strcmp(mode, "bomb") == 0;
        long n = bomb ? atol(arg) : 1;
        size_t size = bomb ? 1024 * 1024 : (size_t) atol(arg);
        for (long i = 0; i < n; i++) {
            zframe_t *f = zframe_new(NULL, size);
            uint8_t *d = zframe_data(f);
            memset(d, 0, size);
            if (bomb) { /* Envelope.result_batch { results: "" x many } */
                size_t body = size - 6, o = 0;
                d[o++] = 0x1a;
                for (size_t v = body; ; v >>= 7) {
                    d[o++] = (uint8_t) ((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
                    if (v < 0x80)
                        break;
                }
                while (o + 1 < size) {
                    d[o++] = 0x0a;
                    d[o++] = 0x00;
                }
            }
            seen.sent += zframe_send(&f, s, 0) == 0;
        }
    } else {
        fprintf(stderr, "hostile_peer: unknown mode %s\n", mode);
        return 2;
    }
    s_read(s, wait_ms, &seen, 0);
    printf("{\"hello_replies\":%d,\"assignments\":%d,\"acks\":%d,\"max_ack\":%" PRIu64
           ",\"heartbeats\":%d,\"sent\":%d}\n", seen.hello_replies, seen.assignments, seen.acks,
           seen.max_ack, seen.heartbeats, seen.sent);
    zsock_destroy(&s);
    zcert_destroy(&cert);
    zcert_destroy(&server);
    return 0;
}
