/* tls probe: TLS handshake to host:port (SNI: serverName, default the host), then the leaf
 * certificate: expired, untrusted (self-signed, unknown issuer), wrong host, or expiring in
 * fewer than minDaysValid days (default 14) fail with a reason; cert_expiry_unix is set
 * whenever a certificate was received. Runs on the tcp probe's engine (probe_tcp.c).
 * Options: {"serverName": "example.org", "minDaysValid": 14, "tlsVerify": true}
 * (tlsVerify false: only the expiry counts, for private certificates). */
#include "probe.h"

static int s_parse_options(const char *json, void **out, char *err, size_t errlen)
{
    return probe_net_parse_options("tls", json, out, err, errlen);
}

const struct probe_ops probe_tls_ops = {
    .name = "tls",
    .parse_options = s_parse_options,
    .free_options = probe_net_free_options,
    .start = probe_net_start,
    .cancel = probe_net_cancel,
};
