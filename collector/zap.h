/* zap: the ZeroMQ authentication handler (ZAP, ZeroMQ RFC 27) of the agent socket. libzmq
 * asks it about every CURVE handshake on inproc://zeromq.zap.01; the answer carries the
 * client's public key in Z85 as the User-Id, which every message of that connection then
 * holds (zframe_meta(frame, "User-Id")). One handler per process. No logging. */
#ifndef ZAP_H
#define ZAP_H

#include <czmq.h>
#include <stdbool.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

/* The REP socket bound to ZAP_ENDPOINT, or NULL (another handler is bound: EADDRINUSE). Bind
 * it before the socket it guards binds, and keep it while that socket lives. */
zsock_t *zap_new(void);
void zap_destroy(zsock_t **p);

/* Whether a client key may connect: true admits it. key_z85 is 40 characters. */
typedef bool(zap_judge_fn)(const char *key_z85, void *arg);

/* Reads one request from sock and answers it: a CURVE request whose key judge admits gets
 * 200 with User-Id = the key; anything else 400 (or 500 for a request that is not ZAP).
 * Returns 1 admitted, 0 refused, -EBADMSG malformed; key_out (41 bytes) gets the client
 * key in Z85 ("" when there was none). */
int zap_handle(zsock_t *sock, zap_judge_fn *judge, void *arg, char key_out[41]);

#endif
