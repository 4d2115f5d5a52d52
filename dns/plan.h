/*
 * The answer plan: what each steered service answers, compiled by the
 * control thread into wire fragments so that the workers only copy bytes.
 *
 * Services are numbered 0..n-1 at config time; the zone tree marks a service
 * name with its number (dns_zoneset_add_service) and the answer path reads
 * plan->services[n].  A service's answer depends on the client's location
 * (DNS_PLAN_GEO: one choice per city, the first serving city in the client's
 * order wins) or not (one choice).  Inside a choice, one site is drawn by
 * weight per query, or every site is answered (DNS_PLAN_ALL).  The control
 * thread (gtm/core/controller.c) recompiles the plan on every health or admin
 * change; the worker side stays "index -> precomputed wire".
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Sites are numbered by the control thread with opaque indices below
 * DNS_MAX_SITES (the configuration refuses more sites); the workers count
 * the answers of each in dns_ctx_t.site_answers.  DNS_PLAN_NO_SITE marks
 * records that belong to no site (a fixed last-resort address): answered,
 * not counted.
 */
#define DNS_MAX_SITES 1024
#define DNS_PLAN_NO_SITE UINT16_MAX

/* One RRset's records without their owner name: for each record
 * TYPE(2) CLASS(2) TTL(4) RDLENGTH(2) RDATA, back to back.  The answer path
 * writes the owner (a compression pointer) before each record. */
typedef struct dns_rrwire {
	uint16_t count;        /* records */
	uint16_t len;          /* bytes in wire */
	uint8_t *wire;         /* owned (zones; in a plan: the plan's arena);
	                        * NULL when count == 0 */
	uint16_t *offsets;     /* likewise; start of each record in wire */
} dns_rrwire_t;

/*
 * One address family of a choice: the sites that serve it, each with its
 * records, and the cumulative weights a query draws from.
 */
typedef struct dns_plan_pick {
	uint16_t nsites;       /* 0: this family has no serving site here */
	uint32_t total;        /* sum of the weights (> 0 when nsites > 0) */
	uint32_t *cum;         /* nsites cumulative weights, ascending */
	dns_rrwire_t *sites;   /* nsites RRsets, one per site */
	uint16_t *site;        /* nsites site indices (< DNS_MAX_SITES, or
	                        * DNS_PLAN_NO_SITE), parallel to sites[] */
	dns_rrwire_t all;      /* every site's records together (answer = "all") */
} dns_plan_pick_t;

/* What one city (or, for a service whose answer does not depend on where the
 * client is, the service as a whole) answers.  The controller decides which
 * sites and weights go in; a choice may hold sites of other cities (spill). */
typedef struct dns_plan_choice {
	bool serving;          /* false: skip to the client's next city */
	dns_plan_pick_t a;
	dns_plan_pick_t aaaa;
} dns_plan_choice_t;

enum {
	DNS_PLAN_GEO = 1 << 0, /* choices[] is indexed by city; walk the client's order */
	DNS_PLAN_ALL = 1 << 1, /* answer every site of the choice, not one by weight */
};

/*
 * Memory.  Everything a plan holds (choices, picks, wire) lives in the
 * plan's arena: a few large blocks, freed together with the plan, so that
 * 10,000 services cost a few hundred block allocations instead of hundreds
 * of thousands of small ones.  A choice that does not serve (most cities of
 * a `nearest` service) is not stored: its slot points at one shared empty
 * choice.  A site's records in a pick are a slice of the pick's `all` wire,
 * and every RRset of one family shares one offsets table (all records of a
 * family have the same size).  The worker's lookup stays one index and one
 * pointer: s->choices[city]->serving.
 */
typedef struct dns_plan_service {
	uint32_t ttl;
	uint8_t flags;               /* DNS_PLAN_* */
	uint16_t nchoices;           /* GEO: the number of cities; else 1 */
	const dns_plan_choice_t **choices;  /* [nchoices], never NULL entries
	                                     * (the shared empty choice) */
	/* When no choice in the client's order serves (fail-open: every
	 * endpoint, DESIGN.md).  Always answered with every site (as ALL). */
	dns_plan_choice_t fallback;
} dns_plan_service_t;

struct dns_plan_arena;

typedef struct dns_plan {
	uint32_t count;
	dns_plan_service_t *services;
	struct dns_plan_arena *arena;   /* private to dns/plan.c */
	uint16_t *offsets[2];           /* private: the shared offsets of A, AAAA */
	uint16_t noffsets[2];
} dns_plan_t;

/* Bytes held by `p` (its arena, the service array): for tests and logs. */
size_t dns_plan_bytes(const dns_plan_t *p);

/* One site's contribution to a choice, as the controller hands it over. */
typedef struct dns_plan_site {
	uint32_t weight;             /* 0 leaves the site out */
	uint16_t site;               /* its index for the answer counters: below
	                              * DNS_MAX_SITES, or DNS_PLAN_NO_SITE (not
	                              * counted; so is any index out of range) */
	const struct in_addr *a;     /* borrowed; copied */
	size_t na;
	const struct in6_addr *aaaa; /* borrowed; copied */
	size_t naaaa;
} dns_plan_site_t;

/* A plan for `count` services, every one empty (NODATA for A and AAAA). */
dns_plan_t *dns_plan_new(uint32_t count);

/*
 * Shapes service `svc`: its TTL, DNS_PLAN_* flags, and the number of choices
 * (the number of cities for DNS_PLAN_GEO, else 1).  Every choice starts not
 * serving.  Control thread.
 */
void dns_plan_service_init(dns_plan_t *p, uint32_t svc, uint32_t ttl, uint8_t flags,
                           uint16_t nchoices);

/*
 * Fills choice `choice` of service `svc` (or its fallback when choice is
 * DNS_PLAN_FALLBACK) from `n` sites: each family's pick holds the sites with
 * a weight > 0 and records of that family, in the order given.  The choice
 * serves when any site was taken.  Copies everything.  Control thread.
 */
#define DNS_PLAN_FALLBACK UINT16_MAX
void dns_plan_choice_set(dns_plan_t *p, uint32_t svc, uint16_t choice,
                         const dns_plan_site_t *sites, size_t n);

/* Sets service `svc`'s answer: these addresses, in this order, with `ttl`:
 * one choice (not DNS_PLAN_GEO) of one site (DNS_PLAN_NO_SITE: not counted)
 * holding every address, answered whole (DNS_PLAN_ALL), and the same as the
 * fallback.  The answer before
 * geo steering; kept for callers that do not steer.  Copies the addresses.
 * Control thread. */
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
