/*
 * The answer path: parse, look up, copy precomputed wire, and count.
 *
 * This runs for every packet on the DNS workers, so it never allocates,
 * never locks and never calls into ldns: the query is read by dns/wire.c
 * into a struct on the stack, the records are wire fragments built at load
 * time (dns_rrwire_t), and writing a record is one owner name (almost always
 * a two-byte compression pointer) plus one memcpy.
 *
 * The response is built front to back.  The room for OPT is set aside
 * before the sections are written so that EDNS never pushes a response over
 * its limit.  When a record that the answer needs (answer and authority
 * sections, and the glue a referral cannot work without) does not fit, the
 * whole response falls back to header + question + OPT with TC=1 (RFC 2181
 * 9): a partial RRset would be worse than none.
 */
#include <string.h>

#include "dns/answer.h"
#include "dns/wire.h"

/* Longest CNAME chain we follow inside our zones before giving the client
 * what we have; also bounds loops, which are detected as well. */
#define CNAME_CHAIN_MAX 8

/* Offset of the echoed QNAME: right after the header. */
#define QNAME_OFF DNS_HDR_LEN

typedef struct resp {
	uint8_t *out;
	size_t pos;
	size_t lim;               /* end of the room for sections; OPT comes after */
	size_t qend;              /* end of the question, where a truncated answer stops */
	uint16_t an, ns, ar;
	bool aa;
	bool tc;                  /* a required RRset did not fit */
	dns_ctab_t ct;
	const dns_snapshot_t *snap;
} resp_t;

/*
 * Appends the RRset `rw` to the response, with `owner` (uncompressed wire,
 * compressed against the names already written) or, when owner is NULL, a
 * pointer to the echoed QNAME, which keeps the client's case.  Adds the
 * records to *count.  Returns false, leaving the response as it was, when
 * the RRset does not fit whole.
 */
static bool put_rrset(resp_t *r, const uint8_t *owner, const dns_rrwire_t *rw, uint16_t *count)
{
	size_t save = r->pos;
	uint16_t save_ct = r->ct.count;
	uint8_t ptr[2];
	bool have_ptr = false;

	if (owner == NULL) {
		dns_put16(ptr, 0xC000 | QNAME_OFF);
		have_ptr = true;
	}
	for (uint16_t i = 0; i < rw->count; i++) {
		const uint8_t *rec = rw->wire + rw->offsets[i];
		size_t reclen = 10 + (size_t)dns_get16(rec + 8);

		if (have_ptr) {
			if (r->pos + 2 > r->lim)
				goto fail;
			memcpy(r->out + r->pos, ptr, 2);
			r->pos += 2;
		} else {
			/* The first record's owner; the others point at it. */
			size_t start = r->pos;
			if (dns_name_write(r->out, &r->pos, r->lim, owner, &r->ct) != 0)
				goto fail;
			if ((r->out[start] & 0xC0) == 0xC0) {
				memcpy(ptr, r->out + start, 2);
				have_ptr = true;
			} else if (start < 0x4000) {
				dns_put16(ptr, (uint16_t)(0xC000 | start));
				have_ptr = true;
			}
		}
		if (r->pos + reclen > r->lim)
			goto fail;
		memcpy(r->out + r->pos, rec, reclen);
		/* Names in RDATA that later owners repeat: the CNAME target
		 * (next owner of the chain) and NS targets (glue owners). */
		uint16_t type = dns_get16(rec);
		if (type == DNS_TYPE_CNAME || type == DNS_TYPE_NS)
			dns_ctab_add(&r->ct, r->out, r->pos + 10);
		r->pos += reclen;
	}
	*count = (uint16_t)(*count + rw->count);
	return true;
fail:
	r->pos = save;
	r->ct.count = save_ct;
	return false;
}

/* A required RRset: when it does not fit, the response becomes TC=1. */
static void put_required(resp_t *r, const uint8_t *owner, const dns_rrwire_t *rw,
                         uint16_t *count)
{
	if (!r->tc && !put_rrset(r, owner, rw, count))
		r->tc = true;
}

/*
 * The records `n` has for `qtype`, or NULL.  A service answers A and AAAA
 * from the plan; ANY (RFC 8482) gets one RRset: a service's A set (its AAAA
 * set when it has no A), else the node's RRset with the lowest type number.
 */
static const dns_rrwire_t *node_records(const resp_t *r, const dns_node_t *n, uint16_t qtype)
{
	if ((n->flags & DNS_NODE_SERVICE) &&
	    (qtype == DNS_TYPE_A || qtype == DNS_TYPE_AAAA || qtype == DNS_TYPE_ANY)) {
		const dns_plan_t *p = r->snap->plan;
		const dns_plan_service_t *s =
			(p != NULL && n->service < p->count) ? &p->services[n->service] : NULL;
		if (qtype == DNS_TYPE_A)
			return s ? &s->a : NULL;
		if (qtype == DNS_TYPE_AAAA)
			return s ? &s->aaaa : NULL;
		if (s != NULL && s->a.count > 0)
			return &s->a;
		if (s != NULL && s->aaaa.count > 0)
			return &s->aaaa;
	}
	if (qtype == DNS_TYPE_ANY)
		return n->nsets > 0 ? &n->sets[0].rr : NULL;
	const dns_rrset_t *set = dns_node_rrset(n, qtype);
	return set ? &set->rr : NULL;
}

/* NODATA and NXDOMAIN: the zone's SOA in authority (RFC 2308 3). */
static void put_negative(resp_t *r, const dns_zone_t *z)
{
	put_required(r, z->apex, &z->soa_neg, &r->ns);
}

/*
 * A referral (RFC 1034 4.3.2): the cut's NS RRset in authority, its glue in
 * additional.  Glue for targets inside the delegated zone is required
 * (RFC 9471): without room for it the answer is truncated.  Other glue is
 * added while it fits.
 */
static int put_referral(resp_t *r, const dns_node_t *cut)
{
	const dns_rrset_t *ns = dns_node_rrset(cut, DNS_TYPE_NS);
	r->aa = false;
	put_required(r, cut->name, &ns->rr, &r->ns);
	for (uint32_t i = 0; i < cut->nglue && !r->tc; i++) {
		const dns_node_t *g = cut->glue[i].node;
		const dns_rrset_t *a = dns_node_rrset(g, DNS_TYPE_A);
		const dns_rrset_t *aaaa = dns_node_rrset(g, DNS_TYPE_AAAA);
		bool ok = (a == NULL || put_rrset(r, g->name, &a->rr, &r->ar)) &&
		          (aaaa == NULL || put_rrset(r, g->name, &aaaa->rr, &r->ar));
		if (!ok) {
			if (cut->glue[i].required)
				r->tc = true;
			break;
		}
	}
	return DNS_RCODE_NOERROR;
}

/*
 * Answers from a lookup result for the query name, following CNAMEs inside
 * our zones (RFC 1034 4.3.2 step 3a; the final RCODE is that of the last
 * name, RFC 6604).  Returns the RCODE.
 */
static int put_answer(resp_t *r, const dns_query_t *q, dns_lookup_t res)
{
	const uint8_t *owner = NULL;            /* NULL: the echoed QNAME */
	const dns_node_t *seen[CNAME_CHAIN_MAX];
	unsigned hops = 0;

	for (;;) {
		switch (res.kind) {
		case DNS_LOOKUP_REFUSED:
		case DNS_LOOKUP_REFERRAL:
			/* Only after a CNAME: the chain leaves our authority and the
			 * resolver follows it from the answer we have. */
			return DNS_RCODE_NOERROR;
		case DNS_LOOKUP_NXDOMAIN:
			put_negative(r, res.zone);
			return DNS_RCODE_NXDOMAIN;
		case DNS_LOOKUP_FOUND:
		case DNS_LOOKUP_WILDCARD:
			break;
		}

		const dns_node_t *n = res.node;
		const dns_rrwire_t *rw = node_records(r, n, q->qtype);
		if (rw != NULL && rw->count > 0) {
			put_required(r, owner, rw, &r->an);
			return DNS_RCODE_NOERROR;
		}
		const dns_rrset_t *cname = q->qtype != DNS_TYPE_CNAME
		                           ? dns_node_rrset(n, DNS_TYPE_CNAME) : NULL;
		if (cname == NULL || cname->rr.count == 0) {
			put_negative(r, res.zone);
			return DNS_RCODE_NOERROR;
		}

		/* A CNAME: write it, then look its target up. */
		for (unsigned i = 0; i < hops; i++)
			if (seen[i] == n)
				return DNS_RCODE_NOERROR;      /* a loop */
		put_required(r, owner, &cname->rr, &r->an);
		if (r->tc || hops == CNAME_CHAIN_MAX)
			return DNS_RCODE_NOERROR;
		seen[hops++] = n;

		const uint8_t *rec = cname->rr.wire + cname->rr.offsets[0];
		const uint8_t *target = rec + 10;
		uint8_t lname[DNS_NAME_MAX];
		uint8_t off[DNS_LABELS_MAX];
		unsigned nl;
		size_t tlen = dns_name_labels(target, dns_get16(rec + 8), off, &nl);
		if (tlen == 0)
			return DNS_RCODE_NOERROR;
		dns_name_lower(lname, target, tlen);
		dns_zoneset_lookup(r->snap->zones, lname, tlen, off, nl,
		                   q->qtype == DNS_TYPE_DS, &res);
		owner = target;
	}
}

/* Answers a query that parsed; returns the RCODE. */
static int answer_query(resp_t *r, const dns_query_t *q)
{
	/* One class and no zone transfers; both are refused like a name we
	 * are not authoritative for. */
	if (q->qclass != DNS_CLASS_IN)
		return DNS_RCODE_REFUSED;
	if (q->qtype == DNS_TYPE_AXFR || q->qtype == DNS_TYPE_IXFR)
		return DNS_RCODE_REFUSED;
	if (r->snap->zones == NULL)
		return DNS_RCODE_REFUSED;

	dns_lookup_t res;
	dns_zoneset_lookup(r->snap->zones, q->qname, q->qname_len, q->label_off, q->nlabels,
	                   q->qtype == DNS_TYPE_DS, &res);
	switch (res.kind) {
	case DNS_LOOKUP_REFUSED:
		return DNS_RCODE_REFUSED;
	case DNS_LOOKUP_REFERRAL:
		return put_referral(r, res.node);
	default:
		r->aa = true;
		return put_answer(r, q, res);
	}
}

/* Writes the OPT RR at r->pos (room was set aside): our payload size,
 * version 0, the client's DO bit, NSID when asked for and configured. */
static void put_opt(resp_t *r, const dns_query_t *q, int rcode, bool nsid)
{
	const dns_opts_t *o = &r->snap->opts;
	uint8_t *p = r->out + r->pos;
	p[0] = 0;                                   /* owner: the root */
	dns_put16(p + 1, DNS_TYPE_OPT);
	dns_put16(p + 3, o->udp_max);
	p[5] = (uint8_t)(rcode >> 4);               /* extended RCODE, upper 8 bits */
	p[6] = 0;                                   /* version */
	p[7] = q->edns_do ? 0x80 : 0;
	p[8] = 0;
	uint16_t rdlen = 0;
	if (nsid) {
		dns_put16(p + 11, DNS_EDNS_NSID);
		dns_put16(p + 13, o->nsid_len);
		memcpy(p + 15, o->nsid, o->nsid_len);
		rdlen = (uint16_t)(4 + o->nsid_len);
	}
	dns_put16(p + 9, rdlen);
	r->pos += 11 + (size_t)rdlen;
	r->ar++;
}

static void count_rcode(dns_stats_t *st, int rcode)
{
	switch (rcode) {
	case DNS_RCODE_NOERROR: st->noerror++; break;
	case DNS_RCODE_NXDOMAIN: st->nxdomain++; break;
	case DNS_RCODE_REFUSED: st->refused++; break;
	case DNS_RCODE_FORMERR: st->formerr++; break;
	case DNS_RCODE_SERVFAIL: st->servfail++; break;
	case DNS_RCODE_NOTIMP: st->notimp++; break;
	case DNS_RCODE_BADVERS: st->badvers++; break;
	default: break;
	}
}

size_t dns_answer(const dns_snapshot_t *snap, const uint8_t *pkt, size_t len,
                  uint8_t *out, size_t outmax, dns_transport_t transport,
                  const struct sockaddr *client, dns_stats_t *st)
{
	dns_query_t q;
	dns_parse_rc_t prc = dns_query_parse(&q, pkt, len);
	if (prc == DNS_PARSE_DROP || outmax < 512) {
		st->dropped++;
		return 0;
	}
	st->queries++;
	if (transport == DNS_TRANSPORT_TCP)
		st->tcp++;
	else
		st->udp++;
	if (q.has_edns)
		st->edns++;

	/* The size limit: RFC 1035 4.2.1 and RFC 6891 6.2.5 for UDP, the
	 * two-byte length prefix for TCP. */
	size_t lim;
	if (transport == DNS_TRANSPORT_TCP) {
		lim = outmax < DNS_TCP_MAX ? outmax : DNS_TCP_MAX;
	} else {
		lim = q.has_edns ? q.edns_udp : 512;
		if (lim > snap->opts.udp_max)
			lim = snap->opts.udp_max;
		if (lim < 512)
			lim = 512;
		if (lim > outmax)
			lim = outmax;
	}

	resp_t r;
	r.out = out;
	r.snap = snap;
	r.an = r.ns = r.ar = 0;
	r.aa = false;
	r.tc = false;
	r.ct.count = 0;

	/* Header: ID, QR, the opcode and RD and CD copied; RA, AD, Z clear. */
	dns_put16(out, q.id);
	out[2] = (uint8_t)(0x80 | (q.opcode << 3) | (q.flags1 & 0x01));
	out[3] = q.flags2 & 0x10;
	r.pos = DNS_HDR_LEN;
	uint16_t qd = 0;
	if (q.has_question) {
		memcpy(out + r.pos, q.question, q.question_len);
		dns_ctab_add(&r.ct, out, r.pos);
		r.pos += q.question_len;
		qd = 1;
	}
	r.qend = r.pos;

	bool nsid = q.has_edns && q.edns_nsid && snap->opts.nsid_len > 0;
	size_t optlen = q.has_edns ? 11 + (nsid ? 4 + (size_t)snap->opts.nsid_len : 0) : 0;
	r.lim = lim - optlen;     /* >= 512 - 11 - 132, far above the question's end */

	int rcode;
	switch (prc) {
	case DNS_PARSE_FORMERR: rcode = DNS_RCODE_FORMERR; break;
	case DNS_PARSE_NOTIMP: rcode = DNS_RCODE_NOTIMP; break;
	case DNS_PARSE_BADVERS: rcode = DNS_RCODE_BADVERS; break;
	default: rcode = answer_query(&r, &q); break;
	}

	if (r.tc) {
		r.pos = r.qend;
		r.an = r.ns = r.ar = 0;
		out[2] |= 0x02;
		st->truncated++;
	}
	if (r.aa)
		out[2] |= 0x04;
	if (q.has_edns)
		put_opt(&r, &q, rcode, nsid);
	out[3] |= (uint8_t)(rcode & 0x0F);
	dns_put16(out + 4, qd);
	dns_put16(out + 6, r.an);
	dns_put16(out + 8, r.ns);
	dns_put16(out + 10, r.ar);
	count_rcode(st, rcode);
	return r.pos;
}
