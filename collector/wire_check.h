/* wire_check: one frame from an agent, decoded and checked before the gateway acts on it.
 * Pure (no sockets, no state, no logging), so tests and the fuzzer drive it directly.
 * What an agent supplies that the collector stores, logs or exports is checked here: a
 * frame that fails is dropped whole and counted as malformed by the caller. */
#ifndef WIRE_CHECK_H
#define WIRE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sd_limits.h"
#include "statusd.pb-c.h"

/* Hello: agent_id 1..WIRE_MAX_ID_LEN bytes, region 0..WIRE_MAX_ID_LEN, version
 * 0..WIRE_MAX_VERSION_LEN, all printable ASCII (so valid UTF-8, and safe in a log line). */
#define WIRE_MAX_ID_LEN 128
#define WIRE_MAX_VERSION_LEN 64
/* ResultBatch: every asset_id valid UTF-8 of 1..WIRE_MAX_ASSET_ID_LEN bytes (the longest id
 * the API serves), every phase name valid UTF-8 of at most WIRE_MAX_PHASE_NAME_LEN bytes
 * (phase names become Prometheus label values, which must be UTF-8). Reasons are not
 * checked: they may quote a remote server, and the store makes them valid.
 * Any message: no field numbered 0 (protobuf-c decodes one, but what it packs from it does
 * not decode again, and ingest re-packs a part of a batch for the engine).
 * An Envelope whose body is a ResultBatch holds it in exactly one field (protobuf would merge
 * several): the gateway forwards those bytes as they came (wire_check_batch_bytes). */
#define WIRE_MAX_ASSET_ID_LEN 256
#define WIRE_MAX_PHASE_NAME_LEN 64

/* Before anything is decoded, the wire bytes are walked (no allocation) and refused when they
 * hold more than WIRE_MAX_RESULTS results, WIRE_MAX_PHASES phases in one result,
 * WIRE_MAX_PROBE_TYPES probe types, or WIRE_MAX_UNKNOWN fields the collector does not know
 * (in all): protobuf-c allocates a struct for every element, so a frame of empty elements
 * would otherwise decode to some 50 times its size. With these bounds one decode allocates
 * at most about 10 MiB plus twice the frame. */
#define WIRE_MAX_RESULTS SD_BATCH_RESULTS_MAX /* the most an agent sends */
#define WIRE_MAX_PHASES 16
#define WIRE_MAX_PROBE_TYPES 64
#define WIRE_MAX_UNKNOWN 256

/* The walk above alone: 0 when data is well-formed protobuf within the bounds, else
 * -EBADMSG with *why set. */
int wire_check_bounds(const uint8_t *data, size_t len, const char **why);

/* The ResultBatch inside an Envelope frame, undecoded: 0 with *batch pointing into data
 * and *batch_len set when data holds the Envelope's result_batch field (3) exactly once,
 * length-delimited; else -EBADMSG (absent, repeated, or the frame does not walk). Reads
 * only the Envelope's own fields (their contents are skipped), allocates nothing. */
int wire_check_batch_bytes(const uint8_t *data, size_t len, const uint8_t **batch,
                           size_t *batch_len);

/* Decodes data (len bytes) as one Envelope sent by an agent and checks it. 0 with *out set
 * (the caller frees it with statusd__envelope__free_unpacked(*out, NULL)) when it is a
 * Hello, ResultBatch or Heartbeat that passes the checks above (a ResultBatch in one field,
 * so wire_check_batch_bytes finds exactly the bytes checked); otherwise -EBADMSG with
 * *out NULL and *why a static one-line reason ("envelope does not decode", ...). Calls
 * wire_check_bounds first. */
int wire_check_envelope(const uint8_t *data, size_t len, Statusd__Envelope **out,
                        const char **why);

/* The checks of wire_check_envelope for a decoded Hello / ResultBatch: true when it passes,
 * else false with *why set. */
bool wire_check_hello(const Statusd__Hello *h, const char **why);
bool wire_check_batch(const Statusd__ResultBatch *b, const char **why);

#endif
