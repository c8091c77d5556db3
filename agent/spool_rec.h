/* spool_rec: one record of the agent's disk spool, as bytes. Pure (no I/O), so the replay's
 * reading of whatever a file holds can be fuzzed.
 *
 * A record is a 20-byte header and a payload, all integers little-endian:
 *   u32 magic "SDR1" | u32 payload length | u64 sequence number | u32 CRC-32C (Castagnoli)
 *   of the length, the sequence number and the payload
 * and the payload encodes one probe_result_t:
 *   u8 version (1) | u8 flags (bit 0: success) | u8 phase count (<= PROBE_MAX_PHASES) | u8 0
 *   | i64 started_at_ms | u32 latency_us | i32 status_code | i64 cert_expiry_unix
 *   | u16 asset id length (>= 1) + bytes | u16 reason length (< PROBE_REASON_MAX) + bytes
 *   | per phase: u8 name length (< 16) + bytes, u32 duration_us
 * Strings hold no NUL byte. */
#ifndef SPOOL_REC_H
#define SPOOL_REC_H

#include "probe.h"

#include <stddef.h>
#include <stdint.h>

#define SPOOL_REC_HEADER 20
#define SPOOL_REC_MAGIC 0x31524453u /* "SDR1" as bytes on disk */

/* CRC-32C of len bytes at p, continuing from crc (0 to start). */
uint32_t spool_crc32c(uint32_t crc, const void *p, size_t len);
/* Bytes r needs as one record (header included), or 0 when it cannot be one (an asset id
 * empty or longer than 65535 bytes). */
size_t spool_rec_size(const probe_result_t *r);
/* Writes r (numbered r->seq) as one record into buf; returns its size, or 0 (nothing
 * written) when cap is below spool_rec_size(r) or r cannot be a record. */
size_t spool_rec_encode(const probe_result_t *r, uint8_t *buf, size_t cap);
/* Reads the record at the start of buf (len bytes available). 0 with *out (a new result
 * the caller owns, seq set) and *rec_len (its size, <= len); -EAGAIN when the bytes could be
 * the beginning of a record longer than len (a record cut short at the end of a file);
 * -EBADMSG when they are not a record (magic, length, CRC or payload wrong); -ENOMEM.
 * Whatever the bytes, it never reads outside buf. A decoded result encodes back to the
 * same bytes. */
int spool_rec_decode(const uint8_t *buf, size_t len, probe_result_t **out, size_t *rec_len);
/* Where reading goes on after bytes at off that are no record: the offset (> off) of the
 * next valid record in buf, or len when none follows (the stretch in between is skipped). */
size_t spool_rec_resync(const uint8_t *buf, size_t len, size_t off);

#endif
