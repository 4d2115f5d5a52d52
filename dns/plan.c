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

void dns_plan_set_addrs(dns_plan_t *p, uint32_t svc, uint32_t ttl,
                        const struct in_addr *a, size_t na,
                        const struct in6_addr *aaaa, size_t naaaa)
{
	/* A caller bug, not input: config validation numbers the services. */
	gtm_assert(svc < p->count);
	dns_plan_service_t *s = &p->services[svc];
	dns_rrwire_clear(&s->a);
	dns_rrwire_clear(&s->aaaa);
	s->ttl = ttl;
	/* At most 65535 bytes per set: about 4600 A or 2300 AAAA records,
	 * far beyond any sane service, so extra addresses are dropped. */
	for (size_t i = 0; i < na; i++)
		if (dns_rrwire_add(&s->a, DNS_TYPE_A, ttl, (const uint8_t *)&a[i], 4) != 0)
			break;
	for (size_t i = 0; i < naaaa; i++)
		if (dns_rrwire_add(&s->aaaa, DNS_TYPE_AAAA, ttl, (const uint8_t *)&aaaa[i], 16) != 0)
			break;
}

void dns_plan_free(dns_plan_t *p)
{
	if (p == NULL)
		return;
	for (uint32_t i = 0; i < p->count; i++) {
		dns_rrwire_clear(&p->services[i].a);
		dns_rrwire_clear(&p->services[i].aaaa);
	}
	free(p->services);
	free(p);
}
