/* The spool's record format (see spool_rec.h). */
#include "spool_rec.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PAYLOAD_FIXED 28 /* version, flags, phase count, 0, four numbers */
#define PHASE_NAME_MAX ((int) sizeof(((probe_phase_t *) 0)->name) - 1)
/* the longest payload an encoder can write: anything longer is not a record */
#define PAYLOAD_MAX                                                                        \
    (PAYLOAD_FIXED + 2 + 65535 + 2 + (PROBE_REASON_MAX - 1) +                              \
     PROBE_MAX_PHASES * (1 + PHASE_NAME_MAX + 4))

/* --- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one table lookup per byte ---- */

static uint32_t s_crc_table[256];
static bool s_crc_ready;

static void s_crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        s_crc_table[i] = c;
    }
    s_crc_ready = true;
}

uint32_t spool_crc32c(uint32_t crc, const void *p, size_t len)
{
    if (!s_crc_ready)
        s_crc_init(); /* the agent is single-threaded; the table is the same every time */
    const uint8_t *b = p;
    crc = ~crc;
    while (len--)
        crc = s_crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* --- little-endian helpers ------------------------------------------------------------ */

static void s_put(uint8_t **p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *(*p)++ = (uint8_t) (v >> (8 * i));
}

static uint64_t s_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t) p[i] << (8 * i);
    return v;
}

/* A reader over the payload: every get fails (and stays failed) past the end. */
typedef struct {
    const uint8_t *p;
    size_t left;
    bool bad;
} s_rd_t;

static uint64_t s_get(s_rd_t *rd, int bytes)
{
    if (rd->bad || rd->left < (size_t) bytes) {
        rd->bad = true;
        return 0;
    }
    uint64_t v = s_le(rd->p, bytes);
    rd->p += bytes;
    rd->left -= (size_t) bytes;
    return v;
}

/* Copies a string of n bytes (no NUL inside) into dst (cap > n); false when it is not. */
static bool s_get_str(s_rd_t *rd, size_t n, char *dst, size_t cap)
{
    if (rd->bad || rd->left < n || n >= cap || memchr(rd->p, 0, n)) {
        rd->bad = true;
        return false;
    }
    memcpy(dst, rd->p, n);
    dst[n] = 0;
    rd->p += n;
    rd->left -= n;
    return true;
}

/* --- encode ------------------------------------------------------------------------------ */

static size_t s_phase_name_len(const probe_phase_t *ph)
{
    return strnlen(ph->name, (size_t) PHASE_NAME_MAX);
}

static size_t s_n_phases(const probe_result_t *r)
{
    return r->n_phases > PROBE_MAX_PHASES ? PROBE_MAX_PHASES : r->n_phases;
}

size_t spool_rec_size(const probe_result_t *r)
{
    size_t id = r->asset_id ? strlen(r->asset_id) : 0;
    if (id == 0 || id > 65535)
        return 0;
    size_t n = SPOOL_REC_HEADER + PAYLOAD_FIXED + 2 + id + 2 +
               strnlen(r->reason, PROBE_REASON_MAX - 1);
    for (size_t i = 0; i < s_n_phases(r); i++)
        n += 1 + s_phase_name_len(&r->phases[i]) + 4;
    return n;
}

size_t spool_rec_encode(const probe_result_t *r, uint8_t *buf, size_t cap)
{
    size_t size = spool_rec_size(r);
    if (size == 0 || size > cap)
        return 0;
    size_t id = strlen(r->asset_id), reason = strnlen(r->reason, PROBE_REASON_MAX - 1);
    size_t nph = s_n_phases(r);
    uint8_t *p = buf;
    s_put(&p, SPOOL_REC_MAGIC, 4);
    s_put(&p, size - SPOOL_REC_HEADER, 4);
    s_put(&p, r->seq, 8);
    p += 4; /* the CRC, below */
    s_put(&p, 1, 1);
    s_put(&p, r->success ? 1 : 0, 1);
    s_put(&p, nph, 1);
    s_put(&p, 0, 1);
    s_put(&p, (uint64_t) r->started_at_ms, 8);
    s_put(&p, r->latency_us, 4);
    s_put(&p, (uint32_t) r->status_code, 4);
    s_put(&p, (uint64_t) r->cert_expiry_unix, 8);
    s_put(&p, id, 2);
    memcpy(p, r->asset_id, id);
    p += id;
    s_put(&p, reason, 2);
    memcpy(p, r->reason, reason);
    p += reason;
    for (size_t i = 0; i < nph; i++) {
        size_t nl = s_phase_name_len(&r->phases[i]);
        s_put(&p, nl, 1);
        memcpy(p, r->phases[i].name, nl);
        p += nl;
        s_put(&p, r->phases[i].duration_us, 4);
    }
    uint32_t crc = spool_crc32c(0, buf + 4, 12);
    crc = spool_crc32c(crc, buf + SPOOL_REC_HEADER, size - SPOOL_REC_HEADER);
    uint8_t *c = buf + 16;
    s_put(&c, crc, 4);
    return size;
}

/* --- decode ------------------------------------------------------------------------------ */

/* The payload (CRC already checked) into a new result; 0, -EBADMSG or -ENOMEM. */
static int s_decode_payload(const uint8_t *pl, size_t len, uint64_t seq, probe_result_t **out)
{
    s_rd_t rd = {pl, len, false};
    uint64_t version = s_get(&rd, 1), flags = s_get(&rd, 1), nph = s_get(&rd, 1),
             zero = s_get(&rd, 1);
    if (rd.bad || version != 1 || flags > 1 || nph > PROBE_MAX_PHASES || zero != 0)
        return -EBADMSG;
    probe_result_t *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->seq = seq;
    r->success = flags & 1;
    r->started_at_ms = (int64_t) s_get(&rd, 8);
    r->latency_us = (uint32_t) s_get(&rd, 4);
    r->status_code = (int32_t) (uint32_t) s_get(&rd, 4);
    r->cert_expiry_unix = (int64_t) s_get(&rd, 8);
    size_t id = (size_t) s_get(&rd, 2);
    if (!rd.bad && id > 0 && id <= rd.left && !memchr(rd.p, 0, id)) {
        r->asset_id = malloc(id + 1);
        if (!r->asset_id) {
            free(r);
            return -ENOMEM;
        }
        s_get_str(&rd, id, r->asset_id, id + 1);
    } else
        rd.bad = true;
    s_get_str(&rd, (size_t) s_get(&rd, 2), r->reason, sizeof r->reason);
    for (size_t i = 0; i < nph && !rd.bad; i++) {
        probe_phase_t *ph = &r->phases[i];
        s_get_str(&rd, (size_t) s_get(&rd, 1), ph->name, sizeof ph->name);
        ph->duration_us = (uint32_t) s_get(&rd, 4);
    }
    r->n_phases = nph;
    if (rd.bad || rd.left != 0) {
        probe_result_destroy(&r);
        return -EBADMSG;
    }
    *out = r;
    return 0;
}

int spool_rec_decode(const uint8_t *buf, size_t len, probe_result_t **out, size_t *rec_len)
{
    static const uint8_t magic[4] = {'S', 'D', 'R', '1'};
    size_t have = len < 4 ? len : 4;
    if (memcmp(buf, magic, have) != 0)
        return -EBADMSG;
    if (len < SPOOL_REC_HEADER)
        return -EAGAIN;
    uint64_t pl = s_le(buf + 4, 4);
    if (pl < PAYLOAD_FIXED || pl > PAYLOAD_MAX)
        return -EBADMSG;
    if (len - SPOOL_REC_HEADER < pl)
        return -EAGAIN;
    uint32_t crc = spool_crc32c(0, buf + 4, 12);
    crc = spool_crc32c(crc, buf + SPOOL_REC_HEADER, (size_t) pl);
    if (crc != (uint32_t) s_le(buf + 16, 4))
        return -EBADMSG;
    int rc = s_decode_payload(buf + SPOOL_REC_HEADER, (size_t) pl, s_le(buf + 8, 8), out);
    if (rc == 0)
        *rec_len = SPOOL_REC_HEADER + (size_t) pl;
    return rc;
}

size_t spool_rec_resync(const uint8_t *buf, size_t len, size_t off)
{
    static const uint8_t magic[4] = {'S', 'D', 'R', '1'};
    for (size_t at = off + 1; at + 4 <= len;) {
        const uint8_t *m = memmem(buf + at, len - at, magic, 4);
        if (!m)
            break;
        at = (size_t) (m - buf);
        probe_result_t *r = NULL;
        size_t rl;
        int rc = spool_rec_decode(buf + at, len - at, &r, &rl);
        probe_result_destroy(&r);
        if (rc == 0)
            return at;
        at++;
    }
    return len;
}
