/*
 * The answer plan and the owner-less wire fragments (dns_rrwire_t) that both
 * the plan and the zones are made of.  Control thread only: the workers just
 * copy the bytes built here.
 */
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

dns_plan_t *dns_plan_new(uint32_t count)
{
	dns_plan_t *p = gtm_xcalloc(1, sizeof(*p));
	p->count = count;
	p->services = gtm_xcalloc(count ? count : 1, sizeof(*p->services));
	return p;
}

static void pick_clear(dns_plan_pick_t *pk)
{
	for (uint16_t i = 0; i < pk->nsites; i++)
		dns_rrwire_clear(&pk->sites[i]);
	free(pk->sites);
	free(pk->site);
	free(pk->cum);
	dns_rrwire_clear(&pk->all);
	memset(pk, 0, sizeof(*pk));
}

static void choice_clear(dns_plan_choice_t *c)
{
	pick_clear(&c->a);
	pick_clear(&c->aaaa);
	c->serving = false;
}

static void service_clear(dns_plan_service_t *s)
{
	for (uint16_t i = 0; i < s->nchoices; i++)
		choice_clear(&s->choices[i]);
	free(s->choices);
	choice_clear(&s->fallback);
	memset(s, 0, sizeof(*s));
}

void dns_plan_service_init(dns_plan_t *p, uint32_t svc, uint32_t ttl, uint8_t flags,
                           uint16_t nchoices)
{
	/* Caller bugs, not input: config validation numbers the services and
	 * the cities. */
	gtm_assert(svc < p->count);
	gtm_assert(nchoices != DNS_PLAN_FALLBACK);
	dns_plan_service_t *s = &p->services[svc];
	service_clear(s);
	s->ttl = ttl;
	s->flags = flags;
	s->nchoices = nchoices;
	s->choices = nchoices ? gtm_xcalloc(nchoices, sizeof(*s->choices)) : NULL;
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

/*
 * Builds one family's pick from the sites that have a weight and records of
 * that family.  The wire of a set stops at 65535 bytes (about 4600 A or
 * 2300 AAAA records, far beyond any sane service), so what would pass it is
 * dropped; so is a site whose weight would overflow the 32-bit total.
 */
static void pick_build(dns_plan_pick_t *pk, uint16_t type, uint32_t ttl,
                       const dns_plan_site_t *sites, size_t n)
{
	uint16_t rdlen = type == DNS_TYPE_A ? 4 : 16;
	size_t take = 0;
	for (size_t i = 0; i < n; i++)
		if (sites[i].weight > 0 && site_count(&sites[i], type) > 0)
			take++;
	if (take == 0)
		return;
	if (take > UINT16_MAX)
		take = UINT16_MAX;
	pk->cum = gtm_xcalloc(take, sizeof(*pk->cum));
	pk->sites = gtm_xcalloc(take, sizeof(*pk->sites));
	pk->site = gtm_xcalloc(take, sizeof(*pk->site));
	uint64_t total = 0;
	for (size_t i = 0; i < n && pk->nsites < take; i++) {
		const dns_plan_site_t *site = &sites[i];
		size_t cnt = site_count(site, type);
		if (site->weight == 0 || cnt == 0)
			continue;
		if (total + site->weight > UINT32_MAX) {
			log_warn("plan, site weights pass 2^32; the sites after %zu are left out", i);
			break;
		}
		total += site->weight;
		dns_rrwire_t *rw = &pk->sites[pk->nsites];
		for (size_t k = 0; k < cnt; k++) {
			const uint8_t *addr = site_addr(site, type, k);
			if (dns_rrwire_add(rw, type, ttl, addr, rdlen) != 0)
				break;
			(void)dns_rrwire_add(&pk->all, type, ttl, addr, rdlen);
		}
		pk->cum[pk->nsites] = (uint32_t)total;
		pk->site[pk->nsites] = site->site < DNS_MAX_SITES ? site->site : DNS_PLAN_NO_SITE;
		pk->nsites++;
	}
	pk->total = (uint32_t)total;
}

void dns_plan_choice_set(dns_plan_t *p, uint32_t svc, uint16_t choice,
                         const dns_plan_site_t *sites, size_t n)
{
	gtm_assert(svc < p->count);
	dns_plan_service_t *s = &p->services[svc];
	gtm_assert(choice == DNS_PLAN_FALLBACK || choice < s->nchoices);
	dns_plan_choice_t *c = choice == DNS_PLAN_FALLBACK ? &s->fallback : &s->choices[choice];
	choice_clear(c);
	pick_build(&c->a, DNS_TYPE_A, s->ttl, sites, n);
	pick_build(&c->aaaa, DNS_TYPE_AAAA, s->ttl, sites, n);
	c->serving = c->a.nsites > 0 || c->aaaa.nsites > 0;
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
	for (uint32_t i = 0; i < p->count; i++)
		service_clear(&p->services[i]);
	free(p->services);
	free(p);
}
