/* zap: one ZAP request in, one reply out (see zap.h). */
#include "zap.h"

#include <errno.h>
#include <string.h>

zsock_t *zap_new(void)
{
    zsock_t *s = zsock_new(ZMQ_REP);
    if (!s)
        return NULL;
    zsock_set_linger(s, 0);
    if (zsock_bind(s, ZAP_ENDPOINT) != 0)
        zsock_destroy(&s);
    return s;
}

void zap_destroy(zsock_t **p)
{
    zsock_destroy(p);
}

static void s_reply(zsock_t *sock, const char *request_id, const char *code, const char *text,
                    const char *user_id)
{
    zmsg_t *r = zmsg_new();
    zmsg_addstr(r, "1.0");
    zmsg_addstr(r, request_id ? request_id : "");
    zmsg_addstr(r, code);
    zmsg_addstr(r, text);
    zmsg_addstr(r, user_id);
    zmsg_addmem(r, NULL, 0); /* no metadata */
    if (zmsg_send(&r, sock) != 0)
        zmsg_destroy(&r);
}

int zap_handle(zsock_t *sock, zap_judge_fn *judge, void *arg, char key_out[41])
{
    key_out[0] = '\0';
    zmsg_t *m = zmsg_recv(sock);
    if (!m)
        return -EBADMSG;
    /* version, request id, domain, address, routing id, mechanism, credentials... */
    char *version = zmsg_popstr(m), *request_id = zmsg_popstr(m);
    zframe_t *domain = zmsg_pop(m), *address = zmsg_pop(m), *identity = zmsg_pop(m);
    char *mechanism = zmsg_popstr(m);
    zframe_t *key = zmsg_pop(m);
    int rc;
    if (!version || strcmp(version, "1.0") != 0 || !request_id || !mechanism) {
        s_reply(sock, request_id, "500", "not a ZAP 1.0 request", "");
        rc = -EBADMSG;
    } else if (strcmp(mechanism, "CURVE") != 0 || !key || zframe_size(key) != 32 ||
               zmsg_size(m) != 0) {
        s_reply(sock, request_id, "400", "only CURVE is accepted", "");
        rc = 0;
    } else {
        zmq_z85_encode(key_out, zframe_data(key), 32);
        bool ok = judge(key_out, arg);
        s_reply(sock, request_id, ok ? "200" : "400", ok ? "OK" : "key not admitted",
                ok ? key_out : "");
        rc = ok ? 1 : 0;
    }
    free(version);
    free(request_id);
    free(mechanism);
    zframe_destroy(&domain);
    zframe_destroy(&address);
    zframe_destroy(&identity);
    zframe_destroy(&key);
    zmsg_destroy(&m);
    return rc;
}
