/*
 * The answer plan: what each steered service answers, compiled by the
 * control thread into wire fragments so that the workers only copy bytes.
 *
 * Services are numbered 0..n-1 at config time; the zone tree marks a service
 * name with its number (dns_zoneset_add_service) and the answer path reads
 * plan->services[n].  Later issues (geo, health, controller) extend an entry
 * with regions and weighted site choices; the worker side stays
 * "index -> precomputed wire".
 */
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

/* One RRset's records without their owner name: for each record
 * TYPE(2) CLASS(2) TTL(4) RDLENGTH(2) RDATA, back to back.  The answer path
 * writes the owner (a compression pointer) before each record. */
typedef struct dns_rrwire {
	uint16_t count;        /* records */
	uint16_t len;          /* bytes in wire */
	uint8_t *wire;         /* owned; NULL when count == 0 */
	uint16_t *offsets;     /* owned; start of each record in wire */
} dns_rrwire_t;

typedef struct dns_plan_service {
	uint32_t ttl;
	dns_rrwire_t a;        /* A records, config order */
	dns_rrwire_t aaaa;     /* AAAA records, config order */
} dns_plan_service_t;

typedef struct dns_plan {
	uint32_t count;
	dns_plan_service_t *services;
} dns_plan_t;

/* A plan for `count` services, every one empty (NODATA for A and AAAA). */
dns_plan_t *dns_plan_new(uint32_t count);

/* Sets service `svc`'s answer: these addresses, in this order, with `ttl`.
 * Copies the addresses.  Control thread. */
void dns_plan_set_addrs(dns_plan_t *p, uint32_t svc, uint32_t ttl,
                        const struct in_addr *a, size_t na,
                        const struct in6_addr *aaaa, size_t naaaa);

/* NULL is a no-op. */
void dns_plan_free(dns_plan_t *p);

/*
 * Building dns_rrwire_t (load time, control thread; zone.c uses these too).
 *
 * dns_rrwire_add appends one record TYPE CLASS(IN) TTL RDLENGTH RDATA.
 * Returns 0, or GTM_ERANGE when the RRset would pass 65535 bytes (it could
 * not be sent in any message).
 */
int dns_rrwire_add(dns_rrwire_t *rw, uint16_t type, uint32_t ttl,
                   const uint8_t *rdata, uint16_t rdlen);
/* Frees the records and empties `rw`. */
void dns_rrwire_clear(dns_rrwire_t *rw);
