/*
 * The answer plan and the owner-less wire fragments (dns_rrwire_t) that both
 * the plan and the zones are made of.  Control thread only: the workers just
 * copy the bytes built here.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "dns/plan.h"
#include "dns/wire.h"

/* TYPE CLASS TTL RDLENGTH */
#define RR_FIXED 10

int dns_rrwire_add(dns_rrwire_t *rw, uint16_t type, uint32_t ttl,
                   const uint8_t *rdata, uint16_t rdlen)
{
	size_t add = RR_FIXED + (size_t)rdlen;
	if ((size_t)rw->len + add > UINT16_MAX || rw->count == UINT16_MAX)
		return GTM_ERANGE;
	/* Fragments are built once per load; growing by realloc each record
	 * keeps the code simple and the result exactly sized. */
	rw->wire = gtm_xrealloc(rw->wire, rw->len + add);
	rw->offsets = gtm_xrealloc(rw->offsets, ((size_t)rw->count + 1) * sizeof(*rw->offsets));
	uint8_t *p = rw->wire + rw->len;
	dns_put16(p, type);
	dns_put16(p + 2, DNS_CLASS_IN);
	dns_put32(p + 4, ttl);
	dns_put16(p + 8, rdlen);
	if (rdlen > 0)
		memcpy(p + RR_FIXED, rdata, rdlen);
	rw->offsets[rw->count++] = rw->len;
	rw->len = (uint16_t)(rw->len + add);
	return 0;
}

void dns_rrwire_clear(dns_rrwire_t *rw)
{
	free(rw->wire);
	free(rw->offsets);
	memset(rw, 0, sizeof(*rw));
}

/* ---- the arena ------------------------------------------------------------
 *
 * Blocks of ARENA_BLOCK bytes (large enough that malloc serves them with
 * their own mapping, so a freed plan goes back to the system at once),
 * bump-allocated; a request larger than a block gets a block of its own.
 * Nothing is freed before the plan. */
#define ARENA_BLOCK (1024 * 1024)

typedef struct dns_plan_arena {
	struct dns_plan_arena *next;
	size_t used, cap;
	size_t total;                  /* first block: bytes of every block */
	_Alignas(max_align_t) unsigned char data[];
} arena_t;

static void *arena_alloc(dns_plan_t *p, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	arena_t *a = p->arena;
	if (a == NULL || a->cap - a->used < n) {
		size_t cap = n > ARENA_BLOCK - sizeof(arena_t) ? n : ARENA_BLOCK - sizeof(arena_t);
		arena_t *b = gtm_xmalloc(sizeof(arena_t) + cap);
		b->used = 0;
		b->cap = cap;
		b->total = (a ? a->total : 0) + sizeof(arena_t) + cap;
		if (a != NULL && cap > ARENA_BLOCK - sizeof(arena_t)) {
			/* A big one goes behind the current block, which keeps
			 * its room for what follows. */
			b->next = a->next;
			a->next = b;
			a->total = b->total;
			b->used = n;
			return memset(b->data, 0, n);
		}
		b->next = a;
		p->arena = a = b;
	}
	void *r = a->data + a->used;
	a->used += n;
	return memset(r, 0, n);
}

static void arena_free(arena_t *a)
{
	while (a != NULL) {
		arena_t *next = a->next;
		free(a);
		a = next;
	}
}

/* Every choice slot that does not serve points here. */
static const dns_plan_choice_t empty_choice;

dns_plan_t *dns_plan_new(uint32_t count)
{
	dns_plan_t *p = gtm_xcalloc(1, sizeof(*p));
	p->count = count;
	p->services = gtm_xcalloc(count ? count : 1, sizeof(*p->services));
	return p;
}

size_t dns_plan_bytes(const dns_plan_t *p)
{
	if (p == NULL)
		return 0;
	return sizeof(*p) + (size_t)(p->count ? p->count : 1) * sizeof(*p->services) +
	       (p->arena ? p->arena->total : 0);
}

void dns_plan_service_init(dns_plan_t *p, uint32_t svc, uint32_t ttl, uint8_t flags,
                           uint16_t nchoices)
{
	/* Caller bugs, not input: config validation numbers the services and
	 * the cities. */
	gtm_assert(svc < p->count);
	gtm_assert(nchoices != DNS_PLAN_FALLBACK);
	dns_plan_service_t *s = &p->services[svc];
	/* What a service held before stays in the arena until the plan goes:
	 * a plan is built once, shaping a service twice is for tests. */
	memset(s, 0, sizeof(*s));
	s->ttl = ttl;
	s->flags = flags;
	s->nchoices = nchoices;
	if (nchoices) {
		s->choices = arena_alloc(p, nchoices * sizeof(*s->choices));
		for (uint16_t i = 0; i < nchoices; i++)
			s->choices[i] = &empty_choice;
	}
}

/* The records of `site` in family `type` (A or AAAA). */
static size_t site_count(const dns_plan_site_t *site, uint16_t type)
{
	return type == DNS_TYPE_A ? site->na : site->naaaa;
}

static const uint8_t *site_addr(const dns_plan_site_t *site, uint16_t type, size_t i)
{
	return type == DNS_TYPE_A ? (const uint8_t *)&site->a[i] : (const uint8_t *)&site->aaaa[i];
}

/* The plan's offsets table of family `f` (0: A, 1: AAAA), at least `n`
 * entries: k x the record size.  A longer table replaces a shorter one for
 * the picks that follow; the earlier ones keep theirs (in the arena). */
static uint16_t *offsets_of(dns_plan_t *p, int f, size_t n, size_t stride)
{
	if (p->noffsets[f] < n) {
		size_t m = n < 16 ? 16 : n;
		uint16_t *o = arena_alloc(p, m * sizeof(*o));
		for (size_t k = 0; k < m; k++)
			o[k] = (uint16_t)(k * stride);
		p->offsets[f] = o;
		p->noffsets[f] = (uint16_t)m;
	}
	return p->offsets[f];
}

/*
 * Builds one family's pick from the sites that have a weight and records of
 * that family.  The wire of a set stops at 65535 bytes (about 4600 A or
 * 2300 AAAA records, far beyond any sane service), so what would pass it is
 * dropped; so is a site whose weight would overflow the 32-bit total.
 *
 * All records of a family have one size (TYPE CLASS TTL RDLENGTH + 4 or 16
 * bytes), so the pick's wire is every taken site's records back to back:
 * `all` is the whole of it, and each site's RRset is its slice.
 */
static void pick_build(dns_plan_t *p, dns_plan_pick_t *pk, uint16_t type, uint32_t ttl,
                       const dns_plan_site_t *sites, size_t n)
{
	uint16_t rdlen = type == DNS_TYPE_A ? 4 : 16;
	size_t stride = RR_FIXED + rdlen;
	size_t per_max = UINT16_MAX / stride;   /* records in one RRset */
	memset(pk, 0, sizeof(*pk));
	size_t take = 0, recs = 0;
	uint64_t total = 0;
	for (size_t i = 0; i < n && take < UINT16_MAX; i++) {
		const dns_plan_site_t *site = &sites[i];
		size_t cnt = site_count(site, type);
		if (site->weight == 0 || cnt == 0)
			continue;
		if (total + site->weight > UINT32_MAX) {
			log_warn("plan, site weights pass 2^32; the sites after %zu are left out", i);
			break;
		}
		total += site->weight;
		take++;
		recs += cnt < per_max ? cnt : per_max;
	}
	if (take == 0)
		return;
	pk->cum = arena_alloc(p, take * sizeof(*pk->cum));
	pk->sites = arena_alloc(p, take * sizeof(*pk->sites));
	pk->site = arena_alloc(p, take * sizeof(*pk->site));
	uint8_t *wire = arena_alloc(p, recs * stride);
	uint16_t *off = offsets_of(p, type == DNS_TYPE_A ? 0 : 1, recs < per_max ? recs : per_max, stride);
	size_t at = 0;   /* records written */
	total = 0;
	for (size_t i = 0; i < n && pk->nsites < take; i++) {
		const dns_plan_site_t *site = &sites[i];
		size_t cnt = site_count(site, type);
		if (site->weight == 0 || cnt == 0)
			continue;
		if (cnt > per_max)
			cnt = per_max;
		total += site->weight;
		dns_rrwire_t *rw = &pk->sites[pk->nsites];
		rw->wire = wire + at * stride;
		rw->offsets = off;
		rw->count = (uint16_t)cnt;
		rw->len = (uint16_t)(cnt * stride);
		for (size_t k = 0; k < cnt; k++) {
			uint8_t *q = wire + (at + k) * stride;
			dns_put16(q, type);
			dns_put16(q + 2, DNS_CLASS_IN);
			dns_put32(q + 4, ttl);
			dns_put16(q + 8, rdlen);
			memcpy(q + RR_FIXED, site_addr(site, type, k), rdlen);
		}
		at += cnt;
		pk->cum[pk->nsites] = (uint32_t)total;
		pk->site[pk->nsites] = site->site < DNS_MAX_SITES ? site->site : DNS_PLAN_NO_SITE;
		pk->nsites++;
	}
	pk->total = (uint32_t)total;
	size_t all = at < per_max ? at : per_max;
	pk->all = (dns_rrwire_t){ .count = (uint16_t)all, .len = (uint16_t)(all * stride),
	                          .wire = wire, .offsets = off };
}

void dns_plan_choice_set(dns_plan_t *p, uint32_t svc, uint16_t choice,
                         const dns_plan_site_t *sites, size_t n)
{
	gtm_assert(svc < p->count);
	dns_plan_service_t *s = &p->services[svc];
	gtm_assert(choice == DNS_PLAN_FALLBACK || choice < s->nchoices);
	dns_plan_choice_t c;
	pick_build(p, &c.a, DNS_TYPE_A, s->ttl, sites, n);
	pick_build(p, &c.aaaa, DNS_TYPE_AAAA, s->ttl, sites, n);
	c.serving = c.a.nsites > 0 || c.aaaa.nsites > 0;
	if (choice == DNS_PLAN_FALLBACK) {
		s->fallback = c;
		return;
	}
	if (!c.serving) {
		s->choices[choice] = &empty_choice;
		return;
	}
	dns_plan_choice_t *keep = arena_alloc(p, sizeof(*keep));
	*keep = c;
	s->choices[choice] = keep;
}

void dns_plan_set_addrs(dns_plan_t *p, uint32_t svc, uint32_t ttl,
                        const struct in_addr *a, size_t na,
                        const struct in6_addr *aaaa, size_t naaaa)
{
	/* Every address as one site, answered whole: the behaviour before
	 * geo steering ("every endpoint, in config order"). */
	dns_plan_site_t site = { .weight = 1, .site = DNS_PLAN_NO_SITE,
	                         .a = a, .na = na, .aaaa = aaaa, .naaaa = naaaa };
	dns_plan_service_init(p, svc, ttl, DNS_PLAN_ALL, 1);
	dns_plan_choice_set(p, svc, 0, &site, 1);
	dns_plan_choice_set(p, svc, DNS_PLAN_FALLBACK, &site, 1);
}

void dns_plan_free(dns_plan_t *p)
{
	if (p == NULL)
		return;
	arena_free(p->arena);
	free(p->services);
	free(p);
}
