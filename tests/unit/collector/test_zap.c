/* zap: a real CURVE handshake judged by the handler: an admitted key's messages arrive with
 * its key as User-Id; a refused key's never arrive; a request that is not ZAP gets 500. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sd_clock.h"
#include "zap.h"

typedef struct {
    const char *admitted;
    int judged;
} judge_t;

static bool s_judge(const char *key, void *arg)
{
    judge_t *j = arg;
    j->judged++;
    return strcmp(key, j->admitted) == 0;
}

static zsock_t *s_client(zcert_t *mine, zcert_t *server, const char *ep)
{
    zsock_t *c = zsock_new(ZMQ_DEALER);
    zsock_set_linger(c, 0);
    zcert_apply(mine, c);
    zsock_set_curve_serverkey(c, zcert_public_txt(server));
    assert_int_equal(zsock_connect(c, "%s", ep), 0);
    zstr_send(c, "hello");
    return c;
}

static void test_handshakes(void **st)
{
    (void) st;
    zsock_t *zap = zap_new();
    assert_non_null(zap);
    zsock_t *second = zap_new(); /* one handler per process */
    assert_null(second);
    zcert_t *server = zcert_new(), *good = zcert_new(), *bad = zcert_new();
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_set_zap_domain(router, "statusd");
    zsock_set_curve_server(router, 1);
    zcert_apply(server, router);
    int port = zsock_bind(router, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    judge_t j = {zcert_public_txt(good), 0};
    zsock_t *cg = s_client(good, server, ep), *cb = s_client(bad, server, ep);
    zpoller_t *p = zpoller_new(zap, router, NULL);
    int admitted = 0, refused = 0, received = 0;
    char key[41];
    sd_ms_t deadline = sd_mono_ms() + 5000;
    while ((received < 1 || admitted + refused < 2) && sd_mono_ms() < deadline) {
        void *which = zpoller_wait(p, 100);
        if (which == zap) {
            int rc = zap_handle(zap, s_judge, &j, key);
            assert_true(rc == 0 || rc == 1);
            assert_int_equal(strlen(key), 40);
            admitted += rc == 1;
            refused += rc == 0;
        } else if (which == router) {
            zmsg_t *m = zmsg_recv(router);
            zframe_t *route = zmsg_pop(m), *body = zmsg_pop(m);
            const char *uid = zframe_meta(body, "User-Id");
            printf("message from User-Id %s\n", uid ? uid : "(none)");
            assert_non_null(uid);
            assert_string_equal(uid, zcert_public_txt(good));
            received++;
            zframe_destroy(&route);
            zframe_destroy(&body);
            zmsg_destroy(&m);
        }
    }
    printf("admitted=%d refused=%d received=%d judged=%d\n", admitted, refused, received,
           j.judged);
    assert_int_equal(admitted, 1);
    assert_true(refused >= 1);
    assert_int_equal(received, 1);
    /* nothing of the refused client arrives, even given time */
    assert_null(zpoller_wait(p, 300) == router ? (void *) 1 : NULL);

    /* a request that is not ZAP 1.0 gets a 500 and -EBADMSG */
    zsock_t *req = zsock_new_req(ZAP_ENDPOINT);
    zstr_sendx(req, "2.0", "id", NULL);
    assert_int_equal(zap_handle(zap, s_judge, &j, key), -EBADMSG);
    zmsg_t *r = zmsg_recv(req);
    char *ver = zmsg_popstr(r), *id = zmsg_popstr(r), *code = zmsg_popstr(r);
    assert_string_equal(code, "500");
    zstr_free(&ver);
    zstr_free(&id);
    zstr_free(&code);
    zmsg_destroy(&r);
    zsock_destroy(&req);

    zpoller_destroy(&p);
    zsock_destroy(&cg);
    zsock_destroy(&cb);
    zsock_destroy(&router);
    zap_destroy(&zap);
    zcert_destroy(&server);
    zcert_destroy(&good);
    zcert_destroy(&bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_handshakes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
