/* wire_check: decode and validation of the agents' frames (see wire_check.h). */
#include "wire_check.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "sd_utf8.h"

/* printable ASCII of at most max bytes (at least one unless allow_empty) */
static bool s_valid_name(const char *s, size_t max, bool allow_empty)
{
    size_t n = s ? strlen(s) : 0;
    if ((!allow_empty && n == 0) || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] >= 0x7f)
            return false;
    return true;
}

/* valid UTF-8 of min..max bytes; strlen stops at an embedded NUL, which protobuf-c keeps,
 * so a string cut by one is judged by what the collector would see */
static bool s_valid_text(const char *s, size_t min, size_t max)
{
    size_t n = s ? strnlen(s, max + 1) : 0;
    return n >= min && n <= max && sd_utf8_valid(s ? s : "", n);
}

/* True when m or a message inside it holds a field numbered 0. protobuf-c 1.4 decodes one
 * written with a non-minimal key (0x81 0x00) as an unknown field and packs it again in the
 * minimal form, which no decoder accepts: the part of a batch ingest re-packs for the engine
 * would then not decode there. */
static bool s_has_field_zero(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return true;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *) m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *) (base + f->quantifier_offset);
            ProtobufCMessage *const *sub = *(ProtobufCMessage *const *const *) (base + f->offset);
            for (size_t k = 0; k < n; k++)
                if (sub[k] && s_has_field_zero(sub[k]))
                    return true;
            continue;
        }
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *) (base + f->quantifier_offset) != f->id)
            continue;
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *) (base + f->offset);
        if (sub && s_has_field_zero(sub))
            return true;
    }
    return false;
}

bool wire_check_hello(const Statusd__Hello *h, const char **why)
{
    if (!h || !s_valid_name(h->agent_id, WIRE_MAX_ID_LEN, false) ||
        !s_valid_name(h->region, WIRE_MAX_ID_LEN, true) ||
        !s_valid_name(h->version, WIRE_MAX_VERSION_LEN, true)) {
        *why = "hello with an invalid agent_id, region or version";
        return false;
    }
    return true;
}

bool wire_check_batch(const Statusd__ResultBatch *b, const char **why)
{
    if (!b) {
        *why = "empty result batch";
        return false;
    }
    for (size_t i = 0; i < b->n_results; i++) {
        const Statusd__ProbeResult *r = b->results[i];
        if (!r || !s_valid_text(r->asset_id, 1, WIRE_MAX_ASSET_ID_LEN)) {
            *why = "result with an invalid asset_id";
            return false;
        }
        for (size_t k = 0; k < r->n_phases; k++) {
            const Statusd__Phase *ph = r->phases[k];
            if (!ph || !s_valid_text(ph->name, 0, WIRE_MAX_PHASE_NAME_LEN)) {
                *why = "result with an invalid phase name";
                return false;
            }
        }
    }
    return true;
}

/* The body an agent may send, checked. */
static bool s_check_body(const Statusd__Envelope *env, const char **why)
{
    switch (env->body_case) {
    case STATUSD__ENVELOPE__BODY_HELLO:
        return wire_check_hello(env->hello, why);
    case STATUSD__ENVELOPE__BODY_RESULT_BATCH:
        return wire_check_batch(env->result_batch, why);
    case STATUSD__ENVELOPE__BODY_HEARTBEAT:
        if (env->heartbeat)
            return true;
        *why = "empty heartbeat";
        return false;
    default:
        *why = "unexpected or empty envelope body";
        return false;
    }
}

/* ---- the walk of wire_check_bounds ---------------------------------------------------- */

enum { K_ENVELOPE, K_HELLO, K_BATCH, K_RESULT, K_PHASE, K_HEARTBEAT, K_LEAF };

typedef struct {
    size_t results, probe_types, unknown;
    const char *why;
} walk_t;

static bool s_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t) (b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* What a length-delimited field of a message of kind holds: a message to walk (K_*), a
 * known string or bytes (K_LEAF), or -1 when the field is unknown to the collector. */
static int s_child(int kind, uint64_t field)
{
    switch (kind) {
    case K_ENVELOPE:
        return field == 1 ? K_HELLO : field == 3 ? K_BATCH : field == 5 ? K_HEARTBEAT
               : (field == 2 || field == 4) ? K_LEAF : -1;
    case K_HELLO: return field >= 1 && field <= 4 ? K_LEAF : -1;
    case K_BATCH: return field == 1 ? K_RESULT : -1;
    case K_RESULT: return field == 8 ? K_PHASE : (field == 2 || field == 7) ? K_LEAF : -1;
    case K_PHASE: return field == 1 ? K_LEAF : -1;
    default: return -1;
    }
}

/* highest field number a kind knows (scalar fields above it are unknown) */
static uint64_t s_max_field(int kind)
{
    static const uint64_t max[] = {5, 8, 1, 9, 2, 4, 0};
    return max[kind];
}

static bool s_walk(const uint8_t *p, const uint8_t *end, int kind, walk_t *w)
{
    size_t phases = 0;
    while (p < end) {
        uint64_t key, len;
        if (!s_varint(&p, end, &key)) {
            w->why = "truncated field key";
            return false;
        }
        uint64_t field = key >> 3;
        int child = -1;
        switch (key & 7) {
        case 0:
            if (!s_varint(&p, end, &len)) {
                w->why = "truncated varint";
                return false;
            }
            break;
        case 1:
        case 5: {
            size_t n = (key & 7) == 1 ? 8 : 4;
            if ((size_t) (end - p) < n) {
                w->why = "truncated fixed field";
                return false;
            }
            p += n;
            break;
        }
        case 2:
            if (!s_varint(&p, end, &len) || len > (uint64_t) (end - p)) {
                w->why = "truncated length-delimited field";
                return false;
            }
            child = s_child(kind, field);
            if (child >= 0 && child != K_LEAF && !s_walk(p, p + len, child, w))
                return false;
            p += len;
            break;
        default:
            w->why = "field of an unsupported wire type";
            return false;
        }
        if ((key & 7) != 2 ? field == 0 || field > s_max_field(kind) : child < 0)
            w->unknown++;
        if (kind == K_BATCH && field == 1)
            w->results++;
        if (kind == K_RESULT && field == 8)
            phases++;
        if (kind == K_HELLO && field == 4)
            w->probe_types++;
        if (w->results > WIRE_MAX_RESULTS || phases > WIRE_MAX_PHASES ||
            w->probe_types > WIRE_MAX_PROBE_TYPES || w->unknown > WIRE_MAX_UNKNOWN) {
            w->why = "frame beyond the element bounds (results, phases, probe types or "
                     "unknown fields)";
            return false;
        }
    }
    return true;
}

int wire_check_bounds(const uint8_t *data, size_t len, const char **why)
{
    walk_t w = {0};
    if (!s_walk(data, data + len, K_ENVELOPE, &w)) {
        *why = w.why;
        return -EBADMSG;
    }
    return 0;
}

int wire_check_batch_bytes(const uint8_t *data, size_t len, const uint8_t **batch,
                           size_t *batch_len)
{
    const uint8_t *p = data, *end = data + len, *found = NULL;
    size_t found_len = 0;
    while (p < end) {
        uint64_t key, v;
        if (!s_varint(&p, end, &key))
            return -EBADMSG;
        switch (key & 7) {
        case 0:
            if (!s_varint(&p, end, &v))
                return -EBADMSG;
            break;
        case 1:
        case 5: {
            size_t n = (key & 7) == 1 ? 8 : 4;
            if ((size_t) (end - p) < n)
                return -EBADMSG;
            p += n;
            break;
        }
        case 2:
            if (!s_varint(&p, end, &v) || v > (uint64_t) (end - p))
                return -EBADMSG;
            if (key >> 3 == 3) {
                if (found)
                    return -EBADMSG; /* protobuf merges the parts: no one slice is the batch */
                found = p;
                found_len = (size_t) v;
            }
            p += v;
            break;
        default:
            return -EBADMSG;
        }
    }
    if (!found)
        return -EBADMSG;
    *batch = found;
    *batch_len = found_len;
    return 0;
}

int wire_check_envelope(const uint8_t *data, size_t len, Statusd__Envelope **out,
                        const char **why)
{
    *out = NULL;
    if (wire_check_bounds(data, len, why) != 0)
        return -EBADMSG;
    Statusd__Envelope *env = statusd__envelope__unpack(NULL, len, data);
    if (!env) {
        *why = "envelope does not decode";
        return -EBADMSG;
    }
    bool ok = s_check_body(env, why);
    const uint8_t *bytes;
    size_t n;
    if (ok && env->body_case == STATUSD__ENVELOPE__BODY_RESULT_BATCH &&
        wire_check_batch_bytes(data, len, &bytes, &n) != 0) {
        *why = "result batch in several fields";
        ok = false;
    }
    if (ok && s_has_field_zero(&env->base)) {
        *why = "envelope with a field numbered 0";
        ok = false;
    }
    if (!ok) {
        statusd__envelope__free_unpacked(env, NULL);
        return -EBADMSG;
    }
    *out = env;
    return 0;
}
