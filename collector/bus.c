/* bus: the sockets of the collector's inproc endpoints (bus.h). */
#include "bus.h"

#include <czmq.h>

zsock_t *bus_pull(const char *endpoint)
{
    zsock_t *s = zsock_new(ZMQ_PULL);
    if (!s)
        return NULL;
    zsock_set_rcvhwm(s, BUS_HWM);
    zsock_set_linger(s, 0);
    /* an inproc endpoint is released asynchronously when its previous owner closes it */
    int rc = zsock_bind(s, "%s", endpoint);
    for (int i = 0; rc != 0 && i < BUS_BIND_TRIES; i++) {
        zclock_sleep(10);
        rc = zsock_bind(s, "%s", endpoint);
    }
    if (rc != 0)
        zsock_destroy(&s);
    return s;
}

zsock_t *bus_push(const char *endpoint, int hwm)
{
    zsock_t *s = zsock_new(ZMQ_PUSH);
    if (!s)
        return NULL;
    zsock_set_sndhwm(s, hwm > 0 ? hwm : BUS_HWM);
    zsock_set_sndtimeo(s, 0);
    zsock_set_linger(s, 0);
    if (zsock_connect(s, "%s", endpoint) != 0)
        zsock_destroy(&s);
    return s;
}
