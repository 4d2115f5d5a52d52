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
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "dns/answer.h"
#include "dns/wire.h"
#include "geo/tree.h"

/* Longest CNAME chain we follow inside our zones before giving the client
 * what we have; also bounds loops, which are detected as well. */
#define CNAME_CHAIN_MAX 8

/* Offset of the echoed QNAME: right after the header. */
#define QNAME_OFF DNS_HDR_LEN

/*
 * The client's city order, computed at most once per query (a CNAME chain
 * may reach two steered services; both use the snapshot's one map) and only
 * when a steered service is answered.
 */
typedef struct geo_state {
	bool done;
	uint16_t n;               /* cities in order[]; 0 without a map */
	unsigned scope;           /* ECS scope of the order, before the cap */
	const uint16_t *order;    /* the region's order, in the snapshot's tree */
} geo_state_t;

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
	dns_ctx_t *ctx;
	const struct sockaddr *locate;  /* whom a steered service answers for; NULL: unlocated */
	bool geo_used;            /* the answer depends on the client's location */
	geo_state_t *geo;
	/* The pick node_records() last answered from, and the site drawn
	 * (-1: every site, answered whole); counted once it is written. */
	const dns_plan_pick_t *steer;
	int steer_site;
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

/* xorshift64 (Marsaglia 2003): a worker's private, cheap random source for
 * weighted choices; the state is never 0. */
static inline uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

void dns_ctx_init(dns_ctx_t *ctx, uint64_t seed)
{
	memset(ctx, 0, sizeof(*ctx));
	/* A zero state would stay zero; any other constant will do. */
	ctx->rng = seed != 0 ? seed : 0x9E3779B97F4A7C15ull;
}

/*
 * The client's city order, once per query: one walk of the snapshot's geo
 * tree (geo/tree.h), which the control thread built from the database and
 * the map, gives the region (its order) and the ECS scope.  Without a
 * database every client is unlocated (the tree holds the CIDR rules and
 * the default order); without a client address, the default order.
 */
static void geo_locate(resp_t *r)
{
	geo_state_t *g = r->geo;
	if (g->done)
		return;
	g->done = true;
	g->n = 0;
	g->scope = 0;

	const geo_tree_t *t = r->snap->geo_tree;
	if (t == NULL)
		return;               /* choice order; nothing depends on the client */
	unsigned scope;
	g->order = geo_tree_order(t, r->locate, &scope);
	g->n = (uint16_t)geo_tree_ncities(t);
	g->scope = r->locate != NULL ? scope : 0;
}

/*
 * Which choice of service `s` answers this client, and whether it is
 * answered whole (*all).  A steered service walks the client's city order
 * (or, without a map, the cities in index order) to the first city that
 * serves; any other service has its one choice.  When nothing serves: the
 * fallback, whole (fail open).
 */
static const dns_plan_choice_t *service_choice(resp_t *r, const dns_plan_service_t *s, bool *all)
{
	*all = (s->flags & DNS_PLAN_ALL) != 0;
	if (!(s->flags & DNS_PLAN_GEO)) {
		if (s->nchoices > 0 && s->choices[0]->serving)
			return s->choices[0];
	} else {
		geo_locate(r);
		r->geo_used = true;
		r->ctx->stats.geo++;
		const geo_state_t *g = r->geo;
		if (r->snap->geo_tree == NULL) {
			for (uint16_t i = 0; i < s->nchoices; i++)
				if (s->choices[i]->serving)
					return s->choices[i];
		} else {
			for (uint16_t i = 0; i < g->n; i++) {
				uint16_t c = g->order[i];
				if (c < s->nchoices && s->choices[c]->serving)
					return s->choices[c];
			}
		}
	}
	r->ctx->stats.fallback++;
	*all = true;
	return &s->fallback;
}

/* The index of one site of `pk` drawn by weight: r uniform in [0, total),
 * the first site whose cumulative weight passes r.  (The modulo bias of a
 * 64-bit draw over a 32-bit total is below 2^-32.) */
static uint32_t pick_draw(dns_ctx_t *ctx, const dns_plan_pick_t *pk)
{
	if (pk->nsites == 1)
		return 0;
	uint32_t x = (uint32_t)(xorshift64(&ctx->rng) % pk->total);
	uint32_t lo = 0, hi = (uint32_t)pk->nsites - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (pk->cum[mid] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Counts the steered answer just written: the site drawn, or every site of
 * an answer given whole.  Indices out of range (DNS_PLAN_NO_SITE) are not
 * counted. */
static void count_sites(resp_t *r)
{
	const dns_plan_pick_t *pk = r->steer;
	uint64_t *c = r->ctx->site_answers;
	if (r->steer_site >= 0) {
		uint16_t s = pk->site[r->steer_site];
		if (s < DNS_MAX_SITES)
			c[s]++;
		return;
	}
	for (uint16_t i = 0; i < pk->nsites; i++)
		if (pk->site[i] < DNS_MAX_SITES)
			c[pk->site[i]]++;
}

/* A service's A or AAAA records (ANY: its A set, or its AAAA set when the
 * choice has no A), or NULL for NODATA. */
static const dns_rrwire_t *service_records(resp_t *r, const dns_plan_service_t *s,
                                           uint16_t qtype)
{
	bool all;
	const dns_plan_choice_t *c = service_choice(r, s, &all);
	const dns_plan_pick_t *pk;
	if (qtype == DNS_TYPE_A)
		pk = &c->a;
	else if (qtype == DNS_TYPE_AAAA)
		pk = &c->aaaa;
	else
		pk = c->a.nsites > 0 ? &c->a : &c->aaaa;
	if (pk->nsites == 0)
		return NULL;
	r->steer = pk;
	if (all) {
		r->steer_site = -1;
		return &pk->all;
	}
	uint32_t i = pick_draw(r->ctx, pk);
	r->steer_site = (int)i;
	return &pk->sites[i];
}

/*
 * The records `n` has for `qtype`, or NULL.  A service answers A and AAAA
 * from the plan; ANY (RFC 8482) gets one RRset: a service's A set (its AAAA
 * set when it has no A), else the node's RRset with the lowest type number.
 */
static const dns_rrwire_t *node_records(resp_t *r, const dns_node_t *n, uint16_t qtype)
{
	r->steer = NULL;
	if ((n->flags & DNS_NODE_SERVICE) &&
	    (qtype == DNS_TYPE_A || qtype == DNS_TYPE_AAAA || qtype == DNS_TYPE_ANY)) {
		const dns_plan_t *p = r->snap->plan;
		const dns_rrwire_t *rw = (p != NULL && n->service < p->count)
		                         ? service_records(r, &p->services[n->service], qtype) : NULL;
		if (rw != NULL || qtype != DNS_TYPE_ANY)
			return rw;
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
 * NODATA for a steered name (fail closed, or no record of the asked family
 * in the city chosen): resolvers cache it for the lower of the SOA record's
 * TTL and its MINIMUM (RFC 2308 5), so the SOA's TTL is capped at the
 * service's TTL now (its degraded_ttl while it fails): a client retries
 * when the service may be back, not after the zone's negative TTL.  The
 * copied record's TTL field is rewritten in place: no allocation.
 */
static void put_negative_steered(resp_t *r, const dns_zone_t *z, uint32_t cap)
{
	size_t start = r->pos;
	uint16_t before = r->ns;
	put_negative(r, z);
	if (r->ns == before)
		return;
	size_t p = dns_name_skip(r->out, r->pos, start, NULL);
	if (p == 0 || p + 8 > r->pos)
		return;
	if (dns_get32(r->out + p + 4) > cap)
		dns_put32(r->out + p + 4, cap);
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
			if (r->steer != NULL && !r->tc)
				count_sites(r);
			return DNS_RCODE_NOERROR;
		}
		const dns_rrset_t *cname = q->qtype != DNS_TYPE_CNAME
		                           ? dns_node_rrset(n, DNS_TYPE_CNAME) : NULL;
		if (cname == NULL || cname->rr.count == 0) {
			const dns_plan_t *p = r->snap->plan;
			if ((n->flags & DNS_NODE_SERVICE) && p != NULL && n->service < p->count &&
			    (q->qtype == DNS_TYPE_A || q->qtype == DNS_TYPE_AAAA || q->qtype == DNS_TYPE_ANY))
				put_negative_steered(r, res.zone, p->services[n->service].ttl);
			else
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

/* Bytes of the ECS option we echo: code, length, family, two prefixes, and
 * the address octets the source prefix covers (RFC 7871 6). */
static size_t ecs_optlen(const dns_query_t *q)
{
	return 4 + 4 + ((size_t)q->ecs_source + 7) / 8;
}

/*
 * Writes the OPT RR at r->pos (room was set aside): our payload size,
 * version 0, the client's DO bit, NSID when asked for and configured, and
 * the client's ECS with `scope` when `ecs` (RFC 7871 7.2.2: FAMILY, SOURCE
 * PREFIX-LENGTH and ADDRESS as they came; the parser made sure the address
 * carries no bits beyond the prefix).
 */
static void put_opt(resp_t *r, const dns_query_t *q, int rcode, bool nsid, bool ecs,
                    unsigned scope)
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
	size_t rdlen = 0;
	uint8_t *opt = p + 11;
	if (nsid) {
		dns_put16(opt, DNS_EDNS_NSID);
		dns_put16(opt + 2, o->nsid_len);
		memcpy(opt + 4, o->nsid, o->nsid_len);
		rdlen += 4 + (size_t)o->nsid_len;
	}
	if (ecs) {
		size_t alen = ((size_t)q->ecs_source + 7) / 8;
		uint8_t *e = opt + rdlen;
		dns_put16(e, DNS_EDNS_ECS);
		dns_put16(e + 2, (uint16_t)(4 + alen));
		dns_put16(e + 4, q->ecs_family);
		e[6] = q->ecs_source;
		e[7] = (uint8_t)scope;
		memcpy(e + 8, q->ecs_addr, alen);
		rdlen += ecs_optlen(q);
	}
	dns_put16(p + 9, (uint16_t)rdlen);
	r->pos += 11 + rdlen;
	r->ar++;
}

/* Is `prefix` bits of a equal to those of b? */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned bytes = prefix / 8, bits = prefix % 8;
	if (memcmp(a, b, bytes) != 0)
		return false;
	if (bits == 0)
		return true;
	uint8_t mask = (uint8_t)(0xFF00u >> bits);
	return ((a[bytes] ^ b[bytes]) & mask) == 0;
}

/*
 * May this resolver tell us where its client is?  Yes when no list is
 * configured; else when its address is in one of the listed networks (an
 * IPv4-mapped IPv6 source counts as IPv4).  An unknown source (NULL) is
 * trusted only without a list.
 */
static bool ecs_trusted(const dns_opts_t *o, const struct sockaddr *client)
{
	if (o->n_ecs_trusted == 0)
		return true;
	if (client == NULL)
		return false;
	const uint8_t *addr;
	int family;
	if (client->sa_family == AF_INET) {
		addr = (const uint8_t *)&((const struct sockaddr_in *)(const void *)client)->sin_addr;
		family = AF_INET;
	} else if (client->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)client)->sin6_addr;
		addr = a6->s6_addr;
		family = AF_INET6;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			addr += 12;
			family = AF_INET;
		}
	} else {
		return false;
	}
	for (uint16_t i = 0; i < o->n_ecs_trusted && i < DNS_ECS_TRUSTED_MAX; i++) {
		const dns_net_t *n = &o->ecs_trusted[i];
		if (n->family == family && prefix_equal(addr, n->addr, n->prefix))
			return true;
	}
	return false;
}

/* The ECS subnet as an address for geo/: the client's network with host
 * bits zero (the parser refused anything else). */
typedef union ecs_sa {
	struct sockaddr sa;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
} ecs_sa_t;

static const struct sockaddr *ecs_sockaddr(const dns_query_t *q, ecs_sa_t *u)
{
	if (q->ecs_family == DNS_ECS_IPV4) {
		memset(&u->v4, 0, sizeof(u->v4));
		u->v4.sin_family = AF_INET;
		memcpy(&u->v4.sin_addr, q->ecs_addr, 4);
	} else {
		memset(&u->v6, 0, sizeof(u->v6));
		u->v6.sin6_family = AF_INET6;
		memcpy(&u->v6.sin6_addr, q->ecs_addr, 16);
	}
	return &u->sa;
}

/*
 * The SCOPE PREFIX-LENGTH we answer with: the prefix over which a steered
 * answer stays the same, never more than the client's source prefix
 * (RFC 7871 7.2.1); 0 for an answer that does not depend on the location.
 * geo/ counts an IPv4-mapped IPv6 subnet in IPv4 bits, so such a scope is
 * moved back to IPv6 bits.
 */
static unsigned ecs_scope(const resp_t *r, const dns_query_t *q)
{
	if (!r->geo_used || q->ecs_source == 0 || r->snap->geo_tree == NULL)
		return 0;
	unsigned scope = r->geo->scope;
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };
	if (q->ecs_family == DNS_ECS_IPV6 && memcmp(q->ecs_addr, mapped, sizeof(mapped)) == 0)
		scope += 96;
	return scope < q->ecs_source ? scope : q->ecs_source;
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
                  const struct sockaddr *client, dns_ctx_t *ctx)
{
	dns_stats_t *st = &ctx->stats;
	dns_query_t q;
	if (client != NULL && client->sa_family != AF_INET && client->sa_family != AF_INET6)
		client = NULL;        /* nothing geo/ could locate */
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

	/* ECS (RFC 7871): used, and echoed, only when the server takes it and
	 * the resolver is one we believe; otherwise ignored as if absent.  A
	 * source prefix of 0 asks us not to use the subnet: the resolver's own
	 * address then locates the client, with scope 0. */
	bool ecs = prc == DNS_PARSE_OK && q.has_ecs && snap->opts.ecs &&
	           ecs_trusted(&snap->opts, client);
	ecs_sa_t ecs_addr;
	geo_state_t geo;
	geo.done = false;

	resp_t r;
	r.out = out;
	r.snap = snap;
	r.ctx = ctx;
	r.geo = &geo;
	r.geo_used = false;
	r.steer = NULL;
	r.steer_site = -1;
	r.locate = client;
	if (ecs) {
		st->ecs++;
		if (q.ecs_source > 0)
			r.locate = ecs_sockaddr(&q, &ecs_addr);
	}
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
	size_t optlen = q.has_edns ? 11 + (nsid ? 4 + (size_t)snap->opts.nsid_len : 0) +
	                             (ecs ? ecs_optlen(&q) : 0) : 0;
	r.lim = lim - optlen;     /* >= 512 - 11 - 132 - 24, far above the question's end */

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
		put_opt(&r, &q, rcode, nsid, ecs, ecs ? ecs_scope(&r, &q) : 0);
	out[3] |= (uint8_t)(rcode & 0x0F);
	dns_put16(out + 4, qd);
	dns_put16(out + 6, r.an);
	dns_put16(out + 8, r.ns);
	dns_put16(out + 10, r.ar);
	count_rcode(st, rcode);
	return r.pos;
}
