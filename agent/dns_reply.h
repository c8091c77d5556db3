/* dns_reply: what the dns probe reads from a raw DNS reply (any bytes a server sent): the
 * rcode, and whether some answer record contains a string. Pure (no sockets, no c-ares
 * channel), so tests and the fuzzer drive it directly. */
#ifndef DNS_REPLY_H
#define DNS_REPLY_H

#include <stddef.h>

/* The record type called name ("A", "AAAA", "MX", "TXT", "NS", "CNAME", "SOA", "PTR"), or 0. */
int dns_type_code(const char *name);
/* The name of a record type of that list, or NULL. */
const char *dns_type_name(int type);

/* The reply's rcode (0..15), or -EBADMSG when it is shorter than a DNS header. */
int dns_reply_rcode(const unsigned char *abuf, size_t alen);
/* 1 when some record of the answer section, written "name.\tTTL\tIN\tTYPE\tdata" (data as
 * dig prints it: "10.0.0.1", "10 mx.example.org", a TXT's strings joined ...), contains
 * want; 0 when none does; -EBADMSG when the reply is malformed. */
int dns_reply_contains(const unsigned char *abuf, size_t alen, const char *want);

#endif
