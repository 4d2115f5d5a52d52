/*
 * DNS wire format at query time: the query parser and the writer helpers.
 *
 * Everything here runs on the DNS workers for every packet, so nothing
 * allocates and every read is bounds-checked against the packet length
 * before it happens.  The parser is deliberately strict: a query that an
 * authoritative server cannot read exactly is answered FORMERR rather than
 * guessed at, which is also what the fuzz target checks against ldns.
 */
#include <string.h>

#include "common/errcode.h"
#include "dns/wire.h"

static inline uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

void dns_name_lower(uint8_t *out, const uint8_t *name, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = lower(name[i]);
}

size_t dns_name_from_str(const char *s, uint8_t out[DNS_NAME_MAX])
{
	size_t pos = 0;     /* next byte of out */
	size_t lpos = 0;    /* where the current label's length byte lives */
	size_t llen = 0;

	if (s == NULL || *s == '\0')
		return 0;
	if (strcmp(s, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	/* Reserve the first length byte; labels are closed at each dot. */
	pos = 1;
	for (const char *p = s; *p != '\0'; p++) {
		unsigned c = (unsigned char)*p;
		if (c == '.') {
			if (llen == 0)
				return 0;            /* empty label: "a..b" or ".a" */
			out[lpos] = (uint8_t)llen;
			if (p[1] == '\0')
				break;               /* trailing dot */
			if (pos >= DNS_NAME_MAX - 1)
				return 0;
			lpos = pos++;
			llen = 0;
			continue;
		}
		if (c == '\\') {
			if (p[1] >= '0' && p[1] <= '9') {
				/* \DDD: exactly three decimal digits, value <= 255. */
				if (!(p[2] >= '0' && p[2] <= '9' && p[3] >= '0' && p[3] <= '9'))
					return 0;
				c = (unsigned)(p[1] - '0') * 100 + (unsigned)(p[2] - '0') * 10 +
				    (unsigned)(p[3] - '0');
				if (c > 255)
					return 0;
				p += 3;
			} else if (p[1] != '\0') {
				c = (unsigned char)p[1];
				p++;
			} else {
				return 0;            /* a lone backslash at the end */
			}
		}
		if (llen == 63 || pos >= DNS_NAME_MAX - 1)
			return 0;
		out[pos++] = lower((uint8_t)c);
		llen++;
	}
	if (llen == 0)
		return 0;
	out[lpos] = (uint8_t)llen;
	out[pos++] = 0;
	return pos;
}

size_t dns_name_labels(const uint8_t *name, size_t max, uint8_t off[DNS_LABELS_MAX],
                       unsigned *nlabels)
{
	size_t pos = 0;
	unsigned n = 0;

	for (;;) {
		if (pos >= max || pos >= DNS_NAME_MAX)
			return 0;
		uint8_t l = name[pos];
		if (l & 0xC0)
			return 0;
		if (off != NULL)
			off[n] = (uint8_t)pos;
		if (l == 0)
			break;
		n++;
		pos += 1 + (size_t)l;
	}
	if (nlabels != NULL)
		*nlabels = n;
	return pos + 1;
}

size_t dns_name_skip(const uint8_t *pkt, size_t len, size_t pos, size_t *wire_len)
{
	size_t end = 0;          /* offset after the name in the stream, once known */
	size_t total = 0;

	for (;;) {
		if (pos >= len)
			return 0;
		uint8_t l = pkt[pos];
		switch (l & 0xC0) {
		case 0x00:
			total += 1 + (size_t)l;
			if (total > DNS_NAME_MAX)
				return 0;
			if (l == 0) {
				if (wire_len)
					*wire_len = total;
				return end ? end : pos + 1;
			}
			pos += 1 + (size_t)l;
			break;
		case 0xC0: {
			if (pos + 1 >= len)
				return 0;
			size_t target = (size_t)(l & 0x3F) << 8 | pkt[pos + 1];
			if (target >= pos)
				return 0;
			if (end == 0)
				end = pos + 2;
			pos = target;
			break;
		}
		default:
			return 0;        /* 01 and 10: extended label types, obsolete */
		}
	}
}

/* Reads the question's QNAME: no pointers allowed.  Returns its length. */
static size_t qname_read(dns_query_t *q, const uint8_t *pkt, size_t len, size_t pos)
{
	size_t start = pos;
	unsigned n = 0;

	for (;;) {
		if (pos >= len)
			return 0;
		uint8_t l = pkt[pos];
		if (l & 0xC0)
			return 0;        /* pointer (nothing to point at) or bad type */
		if (pos - start + 1 + (size_t)l > DNS_NAME_MAX)
			return 0;
		q->label_off[n] = (uint8_t)(pos - start);
		if (l == 0)
			break;
		if (pos + 1 + l > len)
			return 0;
		n++;
		pos += 1 + (size_t)l;
	}
	size_t qlen = pos + 1 - start;
	q->nlabels = (uint8_t)n;
	q->qname_len = (uint16_t)qlen;
	dns_name_lower(q->qname, pkt + start, qlen);
	return qlen;
}

/*
 * Reads an EDNS Client Subnet option (RFC 7871 6) of `olen` bytes at `o`.
 * Everything RFC 7871 7.1.2 lets a server refuse is refused (the caller
 * answers FORMERR): a second ECS option, an unknown family, a source
 * prefix longer than the family's address, a non-zero scope (it must be 0
 * in queries), an address that is not exactly as long as the source prefix
 * needs, or one with bits set beyond the prefix.  The last two make the
 * address canonical, which is what lets the answer echo it as it came.
 */
static bool ecs_read(dns_query_t *q, const uint8_t *o, size_t olen)
{
	if (q->has_ecs || olen < 4)
		return false;
	uint16_t family = dns_get16(o);
	unsigned source = o[2];
	unsigned scope = o[3];
	unsigned bits;
	if (family == DNS_ECS_IPV4)
		bits = 32;
	else if (family == DNS_ECS_IPV6)
		bits = 128;
	else
		return false;
	if (source > bits || scope != 0)
		return false;
	size_t alen = (source + 7) / 8;
	if (olen - 4 != alen)
		return false;
	if ((source & 7) != 0 && (o[4 + alen - 1] & (0xFFu >> (source & 7))) != 0)
		return false;
	memset(q->ecs_addr, 0, sizeof(q->ecs_addr));
	if (alen > 0)
		memcpy(q->ecs_addr, o + 4, alen);
	q->ecs_family = (uint8_t)family;
	q->ecs_source = (uint8_t)source;
	q->has_ecs = true;
	return true;
}

/*
 * Reads the OPT RR whose fixed part starts at `p` (TYPE already known) and
 * whose RDATA is rd[0..rdlen).  Options are read in a loop so that later
 * ones (ECS, cookies) slot in as new cases.
 */
static bool opt_read(dns_query_t *q, const uint8_t *p, const uint8_t *rd, size_t rdlen)
{
	uint16_t udp = dns_get16(p + 2);
	q->has_edns = true;
	q->edns_udp = udp < 512 ? 512 : udp;
	/* TTL: extended RCODE (ignored in a query), VERSION, DO, Z. */
	q->edns_version = p[5];
	q->edns_do = (p[6] & 0x80) != 0;

	size_t pos = 0;
	while (pos < rdlen) {
		if (rdlen - pos < 4)
			return false;
		uint16_t code = dns_get16(rd + pos);
		uint16_t olen = dns_get16(rd + pos + 2);
		pos += 4;
		if (rdlen - pos < olen)
			return false;
		switch (code) {
		case DNS_EDNS_NSID:
			/* RFC 5001 says the request is empty; a payload is ignored
			 * rather than refused, as other servers do. */
			q->edns_nsid = true;
			break;
		case DNS_EDNS_ECS:
			/* Options of another EDNS version mean what that version
			 * says; such a query gets BADVERS, so leave them. */
			if (q->edns_version == 0 && !ecs_read(q, rd + pos, olen))
				return false;
			break;
		default:
			break;           /* unknown options are ignored (RFC 6891 6.1.2) */
		}
		pos += olen;
	}
	return true;
}

dns_parse_rc_t dns_query_parse(dns_query_t *q, const uint8_t *pkt, size_t len)
{
	/* Only the fields the answer path reads before parsing finishes need
	 * resetting; the big arrays are written as the name is read. */
	q->has_question = false;
	q->has_edns = false;
	q->edns_version = 0;
	q->edns_do = false;
	q->edns_udp = 512;
	q->edns_nsid = false;
	q->has_ecs = false;
	q->qtype = 0;
	q->qclass = 0;

	if (len < DNS_HDR_LEN)
		return DNS_PARSE_DROP;
	q->id = dns_get16(pkt);
	q->flags1 = pkt[2];
	q->flags2 = pkt[3];
	q->opcode = (pkt[2] >> 3) & 0x0F;
	if (pkt[2] & 0x80)
		return DNS_PARSE_DROP;

	uint16_t qd = dns_get16(pkt + 4);
	uint16_t an = dns_get16(pkt + 6);
	uint16_t ns = dns_get16(pkt + 8);
	uint16_t ar = dns_get16(pkt + 10);
	size_t pos = DNS_HDR_LEN;

	if (qd != 1)
		return q->opcode != DNS_OPCODE_QUERY ? DNS_PARSE_NOTIMP : DNS_PARSE_FORMERR;

	size_t qlen = qname_read(q, pkt, len, pos);
	bool qok = qlen != 0 && len - pos - qlen >= 4;
	if (qok) {
		q->qtype = dns_get16(pkt + pos + qlen);
		q->qclass = dns_get16(pkt + pos + qlen + 2);
		q->question = pkt + pos;
		q->question_len = (uint16_t)(qlen + 4);
		/* QTYPE OPT is a meta-type that cannot be asked for. */
		q->has_question = q->qtype != DNS_TYPE_OPT;
	}
	if (q->opcode != DNS_OPCODE_QUERY)
		return DNS_PARSE_NOTIMP;
	if (!q->has_question)
		return DNS_PARSE_FORMERR;
	pos += qlen + 4;

	/* The other sections.  A query normally has no answer or authority
	 * records; when it has some (old update-style clients) they are read
	 * and skipped, so only malformed packets are refused. */
	unsigned total = (unsigned)an + ns + ar;
	for (unsigned i = 0; i < total; i++) {
		size_t wlen;
		size_t after = dns_name_skip(pkt, len, pos, &wlen);
		if (after == 0 || len - after < 10)
			return DNS_PARSE_FORMERR;
		const uint8_t *p = pkt + after;
		uint16_t type = dns_get16(p);
		uint16_t rdlen = dns_get16(p + 8);
		if (len - after - 10 < rdlen)
			return DNS_PARSE_FORMERR;
		if (type == DNS_TYPE_OPT) {
			/* One OPT, owned by the root, in the additional section
			 * (RFC 6891 6.1.1). */
			if (i < (unsigned)an + ns || q->has_edns || wlen != 1)
				return DNS_PARSE_FORMERR;
			if (!opt_read(q, p, p + 10, rdlen))
				return DNS_PARSE_FORMERR;
		}
		pos = after + 10 + rdlen;
	}
	if (pos != len)
		return DNS_PARSE_FORMERR;      /* trailing bytes */
	if (q->has_edns && q->edns_version > 0)
		return DNS_PARSE_BADVERS;
	return DNS_PARSE_OK;
}

/* ---- writer ---------------------------------------------------------- */

void dns_ctab_add(dns_ctab_t *ct, const uint8_t *pkt, size_t off)
{
	for (;;) {
		uint8_t l = pkt[off];
		if (l == 0 || (l & 0xC0) != 0)
			return;              /* the rest is already a target */
		if (ct->count >= DNS_CTAB_MAX || off >= 0x4000)
			return;
		ct->off[ct->count++] = (uint16_t)off;
		off += 1 + (size_t)l;
	}
}

/*
 * Does the name at pkt[off] (possibly compressed, written by us) equal the
 * uncompressed `name`, ignoring case?  Pointers in our own output only go
 * backwards, but the hop count is bounded anyway.
 */
static bool name_equal_at(const uint8_t *pkt, size_t off, const uint8_t *name)
{
	unsigned hops = 0;
	for (;;) {
		uint8_t l = pkt[off];
		if ((l & 0xC0) == 0xC0) {
			if (++hops > DNS_LABELS_MAX)
				return false;
			off = (size_t)(l & 0x3F) << 8 | pkt[off + 1];
			continue;
		}
		if (l != *name)
			return false;
		if (l == 0)
			return true;
		for (unsigned i = 1; i <= l; i++)
			if (lower(pkt[off + i]) != lower(name[i]))
				return false;
		off += 1 + (size_t)l;
		name += 1 + (size_t)l;
	}
}

int dns_name_write(uint8_t *pkt, size_t *pos, size_t max, const uint8_t *name,
                   dns_ctab_t *ct)
{
	/* Find the longest suffix of `name` that is already in the packet. */
	size_t s = 0;            /* offset in name of the suffix tried */
	int match = -1;
	for (;;) {
		uint8_t l = name[s];
		if (l == 0)
			break;
		for (unsigned e = 0; ct != NULL && e < ct->count; e++) {
			if (pkt[ct->off[e]] == l && name_equal_at(pkt, ct->off[e], name + s)) {
				match = (int)e;
				break;
			}
		}
		if (match >= 0)
			break;
		s += 1 + (size_t)l;
	}

	/* Labels before the suffix are written out, then a pointer or the root. */
	size_t need = s + (match >= 0 ? 2 : 1);
	if (*pos + need > max)
		return GTM_ESPACE;
	size_t start = *pos;
	memcpy(pkt + start, name, s);
	if (match >= 0) {
		uint16_t ptr = (uint16_t)(0xC000 | ct->off[match]);
		dns_put16(pkt + start + s, ptr);
	} else {
		pkt[start + s] = 0;
	}
	*pos = start + need;
	if (ct != NULL && s > 0)
		dns_ctab_add(ct, pkt, start);
	return 0;
}
