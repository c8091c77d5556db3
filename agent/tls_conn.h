/* tls_conn: one non-blocking TCP connection on the agent loop, optionally wrapped in TLS
 * (OpenSSL on the same socket, SSL_connect driven by WANT_READ/WANT_WRITE). Shared by the tcp
 * and tls probes. No timer of its own: the probe owns the deadline and destroys the
 * connection when it passes. No logging (a failed connection is probe data). */
#ifndef TLS_CONN_H
#define TLS_CONN_H

#include "loop.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct tls_conn tls_conn_t;

typedef enum {
    TLS_CONN_CONNECTED,  /* TCP connect finished */
    TLS_CONN_HANDSHAKEN, /* TLS handshake finished (only with tls) */
    TLS_CONN_SENT,       /* everything given to tls_conn_send is written */
    TLS_CONN_READABLE,   /* data or EOF: call tls_conn_read until it returns -EAGAIN */
    TLS_CONN_FAILED,     /* tls_conn_error() says why; no further event */
} tls_conn_event_t;

/* The callback may call tls_conn_destroy on c (the free is deferred until it returns). */
typedef void(tls_conn_fn)(tls_conn_t *c, tls_conn_event_t ev, void *ctx);

typedef struct {
    bool tls;
    const char *server_name; /* SNI; NULL or an IP literal: none sent */
} tls_conn_opts_t;

/* Starts connecting to addr. Events are never delivered from inside this call.
 * NULL with errno set (and a message in err) when no socket could be started. */
tls_conn_t *tls_conn_new(loop_t *loop, const struct sockaddr *addr, socklen_t addrlen,
                         const tls_conn_opts_t *opts, tls_conn_fn *cb, void *ctx, char *err,
                         size_t errlen);
/* Closes the socket, unregisters from the loop, frees (deferred inside the callback).
 * Accepts NULL; sets *p = NULL. */
void tls_conn_destroy(tls_conn_t **p);

/* Queues bytes to send (copied) once connected/handshaken; TLS_CONN_SENT follows. 0/-errno. */
int tls_conn_send(tls_conn_t *c, const void *buf, size_t len);
/* Starts reporting TLS_CONN_READABLE. */
void tls_conn_want_read(tls_conn_t *c);
/* Reads up to len bytes: >0 bytes read, 0 on EOF, -EAGAIN when nothing is ready yet,
 * another -errno on error (tls_conn_error() says why). */
ssize_t tls_conn_read(tls_conn_t *c, void *buf, size_t len);

/* The failure reason, one line: "connect: connection refused", "TLS: handshake failed: ...". */
const char *tls_conn_error(const tls_conn_t *c);
/* After the handshake: the peer's leaf certificate (borrowed), or NULL. */
X509 *tls_conn_peer_cert(const tls_conn_t *c);
/* After the handshake: the chain verification result against the system trust store
 * (SSL_CERT_FILE/SSL_CERT_DIR are honoured), X509_V_OK when trusted. Names are not checked. */
long tls_conn_verify_result(const tls_conn_t *c);

/* notAfter of cert as unix seconds, or 0 when it cannot be read. */
int64_t tls_cert_not_after(const X509 *cert);
/* 1 when cert is valid for host (DNS name or IP literal), else 0. */
int tls_cert_matches(X509 *cert, const char *host);
/* The name the certificate is for: its first DNS subjectAltName, else its CN, else "?";
 * made one line of valid UTF-8 (control characters become spaces), cut to fit len. */
void tls_cert_name(X509 *cert, char *buf, size_t len);
/* "certificate has expired", "self-signed certificate", ... for a verify result. */
const char *tls_verify_reason(long verify_result);

/* Frees the shared client context (tests; the agent may call it at exit). */
void tls_conn_global_cleanup(void);

#endif
