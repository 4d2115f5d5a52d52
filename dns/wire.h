/*
 * DNS wire format at query time: the parser for incoming queries and the
 * small writer helpers the answer path uses.  Allocation-free.  The fuzz
 * target holds the parser against ldns on the same bytes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN 12
#define DNS_NAME_MAX 255

/*
 * Skips a possibly compressed name at `pos` in `pkt` (`len` bytes).  A
 * pointer must point strictly backwards (before the pointer itself), which
 * makes loops impossible, and the name it spells must stay within 255
 * bytes; label types 01 and 10 are refused.  Returns the offset after the
 * name as it sits in the packet, or 0 when malformed.  *wire_len (when not
 * NULL) receives the uncompressed length.
 */
size_t dns_name_skip(const uint8_t *pkt, size_t len, size_t pos, size_t *wire_len);

/*
 * Converts a presentation-form name ("www.Example.com", trailing dot
 * optional, "." for the root) to lower-case uncompressed wire form.
 * Returns the wire length, or 0 when the name is not valid (empty label,
 * label > 63, name > 255, bad escape).  Load time.
 */
size_t dns_name_from_str(const char *s, uint8_t out[DNS_NAME_MAX]);

/* The most labels a name can have: 127 one-byte labels and the root. */
#define DNS_LABELS_MAX 128

/* Types, classes and option codes the query path looks at. */
enum {
	DNS_TYPE_A = 1, DNS_TYPE_NS = 2, DNS_TYPE_CNAME = 5, DNS_TYPE_SOA = 6,
	DNS_TYPE_PTR = 12, DNS_TYPE_MX = 15, DNS_TYPE_TXT = 16, DNS_TYPE_AAAA = 28,
	DNS_TYPE_SRV = 33, DNS_TYPE_DNAME = 39, DNS_TYPE_OPT = 41, DNS_TYPE_DS = 43,
	DNS_TYPE_IXFR = 251, DNS_TYPE_AXFR = 252, DNS_TYPE_ANY = 255,
	DNS_TYPE_CAA = 257,
};
enum { DNS_CLASS_IN = 1, DNS_CLASS_ANY = 255 };
enum { DNS_OPCODE_QUERY = 0 };
enum {
	DNS_RCODE_NOERROR = 0, DNS_RCODE_FORMERR = 1, DNS_RCODE_SERVFAIL = 2,
	DNS_RCODE_NXDOMAIN = 3, DNS_RCODE_NOTIMP = 4, DNS_RCODE_REFUSED = 5,
	DNS_RCODE_BADVERS = 16,   /* extended: only through OPT */
};
enum { DNS_EDNS_NSID = 3, DNS_EDNS_ECS = 8 };
/* ECS FAMILY (RFC 7871 6: IANA address family numbers). */
enum { DNS_ECS_IPV4 = 1, DNS_ECS_IPV6 = 2 };

/* What dns_query_parse() concluded about a packet. */
typedef enum dns_parse_rc {
	DNS_PARSE_OK = 0,       /* a well-formed QUERY: answer it */
	DNS_PARSE_DROP,         /* QR=1 or shorter than a header: send nothing */
	DNS_PARSE_FORMERR,      /* malformed: answer FORMERR */
	DNS_PARSE_NOTIMP,       /* opcode other than QUERY: answer NOTIMP */
	DNS_PARSE_BADVERS,      /* well-formed but EDNS version > 0: answer BADVERS */
} dns_parse_rc_t;

/*
 * A parsed query.  Pointers point into the packet given to
 * dns_query_parse(), which must outlive this struct.
 *
 * Fields are valid as far as parsing got: `has_question` says the question
 * was read (and may be echoed, even in a FORMERR answer), `has_edns` that
 * one OPT RR was read (the answer then carries OPT).
 */
typedef struct dns_query {
	uint16_t id;
	uint8_t flags1;                 /* header byte 2: QR OPCODE AA TC RD */
	uint8_t flags2;                 /* header byte 3: RA Z AD CD RCODE */
	uint8_t opcode;

	bool has_question;
	uint16_t qtype;
	uint16_t qclass;
	const uint8_t *question;        /* QNAME QTYPE QCLASS as received */
	uint16_t question_len;
	uint16_t qname_len;             /* wire length including the root label */
	uint8_t nlabels;                /* labels before the root */
	uint8_t label_off[DNS_LABELS_MAX]; /* offset of label i in qname, i < nlabels;
	                                    * label_off[nlabels] is the root */
	uint8_t qname[DNS_NAME_MAX];    /* lower-cased copy, for lookups */

	bool has_edns;
	uint8_t edns_version;
	bool edns_do;
	uint16_t edns_udp;              /* the client's payload size, raised to 512 */
	bool edns_nsid;                 /* NSID (RFC 5001) was requested */

	/* EDNS Client Subnet (RFC 7871), valid when has_ecs: one well-formed
	 * option in an OPT of version 0. */
	bool has_ecs;
	uint8_t ecs_family;             /* DNS_ECS_IPV4 or DNS_ECS_IPV6 */
	uint8_t ecs_source;             /* SOURCE PREFIX-LENGTH, <= 32 or <= 128 */
	uint8_t ecs_addr[16];           /* ADDRESS, network order, zero-padded */
} dns_query_t;

/*
 * Parses the query in `pkt` (`len` bytes) into `q`: the header, exactly one
 * question (no compression pointers: a query has nothing to point at), the
 * answer and authority sections (each RR checked and skipped; a query
 * normally has none) and the additional section, where one OPT RR (owner
 * root) is read and any other RR skipped.  Unknown EDNS options are
 * ignored.  In an OPT of version 0, an ECS option (RFC 7871 6 and 7.1.2)
 * is read into has_ecs/ecs_*; it is malformed (FORMERR) when it is shorter
 * than 4 bytes, its FAMILY is not 1 or 2, its SOURCE PREFIX-LENGTH passes
 * 32 or 128, its SCOPE PREFIX-LENGTH is not 0, its ADDRESS is not exactly
 * ceil(SOURCE / 8) bytes or has a bit set beyond SOURCE, or when a second
 * ECS option follows.  (In an OPT of a version we do not speak the options
 * are not read: the answer is BADVERS.)
 *
 * Returns a dns_parse_rc_t.  The checks run in this order: runt or QR=1 ->
 * DROP; opcode -> NOTIMP (the question is read for the echo when it parses);
 * any malformation (QDCOUNT != 1, truncation, bad label, name > 255 bytes,
 * pointer in QNAME, QTYPE OPT, OPT twice, OPT not owned by the root or
 * outside the additional section, a malformed EDNS option list or ECS
 * option, bytes after the last RR) -> FORMERR;
 * EDNS version > 0 -> BADVERS.  Thread-safe, no allocation.
 */
dns_parse_rc_t dns_query_parse(dns_query_t *q, const uint8_t *pkt, size_t len);

/* Big-endian readers and writers. */
static inline uint16_t dns_get16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t dns_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void dns_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void dns_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * Name compression while writing a response: the offsets of names (every
 * label position of them) already in the packet that later names may point
 * at.  Fixed size; when full, names are written without further entries
 * (the packet stays correct, only less compressed).
 */
#define DNS_CTAB_MAX 64
typedef struct dns_ctab {
	uint16_t count;
	uint16_t off[DNS_CTAB_MAX];
} dns_ctab_t;

/* Records every label of the name at `off` in `pkt` as a compression
 * target.  The name must be well formed (it was written by us or parsed). */
void dns_ctab_add(dns_ctab_t *ct, const uint8_t *pkt, size_t off);

/*
 * Writes `name` (uncompressed wire, any case) at pkt[*pos], compressed
 * against the names of `ct` (case-insensitively: the longest suffix that
 * matches becomes a pointer), and records the labels it wrote in `ct`.
 * `ct` may be NULL (no compression).  Advances *pos.  Returns 0, or
 * GTM_ESPACE when it would pass `max` (nothing is then recorded; *pos is
 * unchanged).
 */
int dns_name_write(uint8_t *pkt, size_t *pos, size_t max, const uint8_t *name,
                   dns_ctab_t *ct);

/*
 * Checks the uncompressed name at name[0..max) and fills the offset of each
 * label (as dns_query_t.label_off does).  Returns the wire length, or 0 when
 * the name is malformed or longer than max.  `off` may be NULL.
 */
size_t dns_name_labels(const uint8_t *name, size_t max, uint8_t off[DNS_LABELS_MAX],
                       unsigned *nlabels);

/* Lower-cases an uncompressed wire name of `len` bytes into `out`. */
void dns_name_lower(uint8_t *out, const uint8_t *name, size_t len);
