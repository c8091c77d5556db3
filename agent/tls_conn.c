/* tls_conn: non-blocking connect + optional OpenSSL handshake + buffered send on the loop. */
#include "tls_conn.h"

#include "sd_utf8.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define TLS_CONN_MAX_SEND (64 * 1024)

typedef enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_FAILED } state_t;

struct tls_conn {
    loop_t *loop;
    int fd;
    loop_watcher_t *w;
    SSL *ssl;
    state_t state;
    bool tls, reading, ssl_wants_write, ssl_wants_read;
    char *out;
    size_t out_len, out_off;
    tls_conn_fn *cb;
    void *ctx;
    int in_cb;
    int connect_err; /* connect() failed at once; reported from the loop */
    bool dead;
    char err[200];
};

static SSL_CTX *s_ctx; /* one client context for every connection: loading CAs is costly */

static SSL_CTX *s_client_ctx(void)
{
    if (s_ctx)
        return s_ctx;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    /* Verify after the handshake, so a probe can report the certificate it got and why it is
     * not trusted rather than a bare "handshake failed". */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_default_verify_paths(ctx);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    s_ctx = ctx;
    return s_ctx;
}

void tls_conn_global_cleanup(void)
{
    SSL_CTX_free(s_ctx);
    s_ctx = NULL;
}

static void s_set_err(tls_conn_t *c, const char *prefix, int errnum)
{
    snprintf(c->err, sizeof c->err, "%s: %s", prefix, strerror(errnum));
    char *p = c->err + strlen(prefix) + 2;
    if (*p)
        *p = (char) tolower((unsigned char) *p); /* "connection refused", as curl's probes say */
}

static void s_set_ssl_err(tls_conn_t *c, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char buf[160] = "";
    if (e) {
        const char *r = ERR_reason_error_string(e);
        snprintf(buf, sizeof buf, "%s", r ? r : "unknown error");
    } else if (errno) {
        snprintf(buf, sizeof buf, "%s", strerror(errno));
    } else {
        snprintf(buf, sizeof buf, "connection closed by peer");
    }
    ERR_clear_error();
    snprintf(c->err, sizeof c->err, "TLS: %s: %s", what, buf);
}

static void s_really_free(tls_conn_t *c)
{
    free(c->out);
    free(c);
}

void tls_conn_destroy(tls_conn_t **p)
{
    if (!p || !*p)
        return;
    tls_conn_t *c = *p;
    *p = NULL;
    if (c->dead)
        return;
    c->dead = true;
    loop_unwatch(&c->w);
    if (c->ssl)
        SSL_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (!c->in_cb)
        s_really_free(c);
}

/* Delivers ev; false when the callback destroyed the connection (do not touch c then). */
static bool s_emit(tls_conn_t *c, tls_conn_event_t ev)
{
    c->in_cb++;
    c->cb(c, ev, c->ctx);
    c->in_cb--;
    if (c->dead) {
        if (!c->in_cb)
            s_really_free(c);
        return false;
    }
    return true;
}

static void s_fail(tls_conn_t *c)
{
    c->state = ST_FAILED;
    loop_unwatch(&c->w);
    s_emit(c, TLS_CONN_FAILED);
}

/* Recomputes the epoll interest from what is pending. */
static void s_update_interest(tls_conn_t *c)
{
    if (!c->w)
        return;
    uint32_t ev = 0;
    if (c->state == ST_CONNECTING)
        ev = EPOLLOUT;
    else if (c->state == ST_HANDSHAKE)
        ev = c->ssl_wants_write ? EPOLLOUT : EPOLLIN;
    else if (c->state == ST_OPEN) {
        if (c->out_off < c->out_len)
            ev |= c->ssl_wants_read ? EPOLLIN : EPOLLOUT;
        if (c->reading)
            ev |= c->ssl_wants_write ? EPOLLOUT : EPOLLIN;
    }
    loop_watch_modify(c->w, ev);
}

/* Writes what is queued; false when c was destroyed or failed. */
static bool s_flush(tls_conn_t *c)
{
    while (c->out_off < c->out_len) {
        size_t left = c->out_len - c->out_off;
        ssize_t n;
        c->ssl_wants_read = false;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, c->out + c->out_off, (int) left);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE)
                    return true;
                if (e == SSL_ERROR_WANT_READ) {
                    c->ssl_wants_read = true;
                    return true;
                }
                s_set_ssl_err(c, "write");
                s_fail(c);
                return false;
            }
            n = r;
        } else {
            n = send(c->fd, c->out + c->out_off, left, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    return true;
                s_set_err(c, "send", errno);
                s_fail(c);
                return false;
            }
        }
        c->out_off += (size_t) n;
    }
    if (c->out_len) {
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
        return s_emit(c, TLS_CONN_SENT);
    }
    return true;
}

static void s_open(tls_conn_t *c)
{
    c->state = ST_OPEN;
    if (!s_flush(c))
        return;
    s_update_interest(c);
}

static void s_handshake(tls_conn_t *c)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_connect(c->ssl);
    if (r == 1) {
        c->ssl_wants_write = false;
        if (!s_emit(c, TLS_CONN_HANDSHAKEN))
            return;
        s_open(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->ssl_wants_write = e == SSL_ERROR_WANT_WRITE;
        s_update_interest(c);
        return;
    }
    s_set_ssl_err(c, "handshake failed");
    s_fail(c);
}

static void s_on_io(loop_t *loop, loop_watcher_t *w, uint32_t revents, void *ctx)
{
    tls_conn_t *c = ctx;
    if (c->state == ST_CONNECTING) {
        int soerr = c->connect_err;
        socklen_t l = sizeof soerr;
        if (!soerr && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &l) < 0)
            soerr = errno;
        if (soerr) {
            s_set_err(c, "connect", soerr);
            s_fail(c);
            return;
        }
        if (!(revents & EPOLLOUT))
            return;
        if (!s_emit(c, TLS_CONN_CONNECTED))
            return;
        if (c->tls) {
            c->state = ST_HANDSHAKE;
            s_handshake(c);
        } else {
            s_open(c);
        }
        return;
    }
    if (c->state == ST_HANDSHAKE) {
        s_handshake(c);
        return;
    }
    if (c->state != ST_OPEN)
        return;
    if (c->out_off < c->out_len && !s_flush(c))
        return;
    if (c->reading && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLOUT)) &&
        !s_emit(c, TLS_CONN_READABLE))
        return;
    s_update_interest(c);
}

tls_conn_t *tls_conn_new(loop_t *loop, const struct sockaddr *addr, socklen_t addrlen,
                         const tls_conn_opts_t *opts, tls_conn_fn *cb, void *ctx, char *err,
                         size_t errlen)
{
    tls_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->cb = cb;
    c->ctx = ctx;
    c->tls = opts && opts->tls;
    c->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        int e = errno;
        snprintf(err, errlen, "socket: %s", strerror(e));
        free(c);
        errno = e;
        return NULL;
    }
    if (c->tls) {
        SSL_CTX *sctx = s_client_ctx();
        c->ssl = sctx ? SSL_new(sctx) : NULL;
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
            snprintf(err, errlen, "TLS: cannot create a session");
            goto fail;
        }
        unsigned char ip[sizeof(struct in6_addr)];
        const char *sni = opts->server_name;
        if (sni && *sni && inet_pton(AF_INET, sni, ip) != 1 && inet_pton(AF_INET6, sni, ip) != 1)
            SSL_set_tlsext_host_name(c->ssl, sni);
    }
    int r = connect(c->fd, addr, addrlen);
    if (r < 0 && errno != EINPROGRESS) {
        /* Reported as an event, like an asynchronous failure, from the first loop turn:
         * the watcher fires EPOLLOUT|EPOLLERR on a failed socket. */
        if (errno != ECONNREFUSED && errno != ENETUNREACH && errno != EHOSTUNREACH) {
            snprintf(err, errlen, "connect: %s", strerror(errno));
            goto fail;
        }
        c->connect_err = errno;
    }
    c->state = ST_CONNECTING;
    c->w = loop_watch(loop, c->fd, EPOLLOUT, s_on_io, c);
    if (!c->w) {
        snprintf(err, errlen, "cannot watch the socket");
        goto fail;
    }
    return c;
fail:;
    int e = errno ? errno : EIO;
    tls_conn_destroy(&c);
    errno = e;
    return NULL;
}

int tls_conn_send(tls_conn_t *c, const void *buf, size_t len)
{
    if (len == 0)
        return 0;
    if (c->out_len - c->out_off + len > TLS_CONN_MAX_SEND)
        return -ENOBUFS;
    char *n = malloc(c->out_len - c->out_off + len);
    if (!n)
        return -ENOMEM;
    if (c->out)
        memcpy(n, c->out + c->out_off, c->out_len - c->out_off);
    memcpy(n + c->out_len - c->out_off, buf, len);
    c->out_len = c->out_len - c->out_off + len;
    c->out_off = 0;
    free(c->out);
    c->out = n;
    if (c->state == ST_OPEN)
        s_update_interest(c);
    return 0;
}

void tls_conn_want_read(tls_conn_t *c)
{
    c->reading = true;
    if (c->state == ST_OPEN)
        s_update_interest(c);
}

ssize_t tls_conn_read(tls_conn_t *c, void *buf, size_t len)
{
    if (c->state != ST_OPEN)
        return -ENOTCONN;
    c->ssl_wants_write = false;
    if (c->ssl) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_read(c->ssl, buf, (int) (len > INT32_MAX ? INT32_MAX : len));
        if (r > 0)
            return r;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN)
            return 0;
        if (e == SSL_ERROR_WANT_READ)
            return -EAGAIN;
        if (e == SSL_ERROR_WANT_WRITE) {
            c->ssl_wants_write = true;
            return -EAGAIN;
        }
        if (e == SSL_ERROR_SYSCALL && errno == 0)
            return 0; /* peer closed without close_notify: an EOF for a probe */
        s_set_ssl_err(c, "read");
        return -EIO;
    }
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EINTR)
        return -EAGAIN;
    int e = errno;
    s_set_err(c, "recv", e);
    return -e;
}

const char *tls_conn_error(const tls_conn_t *c) { return c->err; }

X509 *tls_conn_peer_cert(const tls_conn_t *c)
{
    return c->ssl ? SSL_get0_peer_certificate(c->ssl) : NULL;
}

long tls_conn_verify_result(const tls_conn_t *c)
{
    return c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_ERR_UNSPECIFIED;
}

int64_t tls_cert_not_after(const X509 *cert)
{
    struct tm tm;
    const ASN1_TIME *t = cert ? X509_get0_notAfter(cert) : NULL;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t) timegm(&tm);
}

int tls_cert_matches(X509 *cert, const char *host)
{
    unsigned char ip[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
        return X509_check_ip_asc(cert, host, 0) == 1;
    return X509_check_host(cert, host, 0, 0, NULL) == 1;
}

/* A name from the certificate made valid one-line UTF-8 for a reason, cut at a character
 * boundary with "…": a SAN (IA5String) or CN may carry any bytes; invalid ones become U+FFFD.
 * Only the wide string types are converted to UTF-8 first. */
static void s_name_copy(const ASN1_STRING *str, char *buf, size_t len)
{
    const unsigned flags = SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS;
    int type = ASN1_STRING_type(str);
    unsigned char *utf8 = NULL;
    int n = -1;
    if (type == V_ASN1_BMPSTRING || type == V_ASN1_UNIVERSALSTRING)
        n = ASN1_STRING_to_UTF8(&utf8, str);
    if (n >= 0)
        sd_utf8_copy(buf, len, (const char *) utf8, (size_t) n, flags);
    else
        sd_utf8_copy(buf, len, (const char *) ASN1_STRING_get0_data(str),
                     (size_t) ASN1_STRING_length(str), flags);
    OPENSSL_free(utf8);
}

void tls_cert_name(X509 *cert, char *buf, size_t len)
{
    /* the server chose these bytes: made one line of valid UTF-8 for the reason */
    snprintf(buf, len, "?");
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS) {
            s_name_copy(g->d.dNSName, buf, len);
            GENERAL_NAMES_free(names);
            return;
        }
    }
    GENERAL_NAMES_free(names);
    X509_NAME *subject = X509_get_subject_name(cert);
    int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at >= 0)
        s_name_copy(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)), buf, len);
}

const char *tls_verify_reason(long v)
{
    switch (v) {
    case X509_V_OK: return "ok";
    case X509_V_ERR_CERT_HAS_EXPIRED: return "certificate has expired";
    case X509_V_ERR_CERT_NOT_YET_VALID: return "certificate is not yet valid";
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT: return "self-signed certificate";
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: return "self-signed certificate in chain";
    default: return X509_verify_cert_error_string(v);
    }
}
