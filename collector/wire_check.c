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
 * minimal form, which no decoder accepts: a batch the gateway forwarded would then not
 * decode in ingest. */
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

int wire_check_envelope(const uint8_t *data, size_t len, Statusd__Envelope **out,
                        const char **why)
{
    *out = NULL;
    Statusd__Envelope *env = statusd__envelope__unpack(NULL, len, data);
    if (!env) {
        *why = "envelope does not decode";
        return -EBADMSG;
    }
    bool ok = s_check_body(env, why);
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
