/*
 * Zones: the static records of every served zone, loaded from RFC 1035 zone
 * files with ldns at (re)load time and turned into a lookup structure whose
 * records are precomputed wire fragments (owner-less, see dns_rrwire_t).
 *
 * A zoneset is built on the control thread (new -> add_zone* ->
 * add_service* -> freeze), then only read.  It is shared by successive
 * snapshots through a reference count that only the control thread touches.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"
#include "dns/plan.h"
#include "dns/wire.h"

typedef struct dns_zoneset dns_zoneset_t;

/* An empty zoneset with one reference. */
dns_zoneset_t *dns_zoneset_new(void);

/*
 * Loads the zone `origin` (presentation form, e.g. "example.com") from the
 * zone file `path` (relative paths are the caller's business).  $ORIGIN
 * defaults to `origin`, $INCLUDE and $TTL work as ldns does.  Refuses a zone
 * without SOA and NS at the apex, records outside the origin, a second zone
 * with the same origin.  Every problem is added to `diag` as
 * "path:line: message".  Returns 0 or a negative GTM_E*.
 */
int dns_zoneset_add_zone(dns_zoneset_t *zs, const char *origin, const char *path,
                         gtm_diag_t *diag);

/*
 * Marks `name` as steered service number `svc`: A and AAAA queries for it
 * are answered from plan->services[svc]; other types from the zone's records
 * at that name (NODATA when none).  The name must lie in a loaded zone, not
 * at or below a delegation, and must not own A, AAAA or CNAME records in the
 * zone file.  Problems go to `diag` as "cfile:cline: message".  Returns 0 or
 * a negative GTM_E*.  Call after every add_zone.
 */
int dns_zoneset_add_service(dns_zoneset_t *zs, const char *name, uint32_t svc,
                            const char *cfile, int cline, gtm_diag_t *diag);

/* Builds the lookup tables; the zoneset is read-only afterwards.  Returns 0
 * or a negative GTM_E* (with `diag` filled). */
int dns_zoneset_freeze(dns_zoneset_t *zs, gtm_diag_t *diag);

/* Number of zones; for logs. */
size_t dns_zoneset_count(const dns_zoneset_t *zs);

/* Reference counting, control thread only.  unref frees at zero; NULL is a no-op. */
void dns_zoneset_ref(dns_zoneset_t *zs);
void dns_zoneset_unref(dns_zoneset_t *zs);

/*
 * ---- Query-time view ------------------------------------------------------
 *
 * The answer path (dns/answer.c) reads these structs directly, which is why
 * their bodies are public: a lookup is a few hash probes and pointer reads,
 * with no call per field.  Everything here is read-only once the zoneset is
 * frozen; nobody outside dns/zone.c writes it.
 *
 * Names are lower-case uncompressed wire.  Every node of a zone has a hash
 * entry keyed by (zone, name): the names that own records, the names that
 * exist only because a name below them does (empty non-terminals), and the
 * service names.
 */
/* One RRset: its type and its records as owner-less wire (dns/plan.h). */
typedef struct dns_rrset {
	uint16_t type;
	dns_rrwire_t rr;
} dns_rrset_t;

enum {
	DNS_NODE_APEX = 1 << 0,     /* the zone's apex */
	DNS_NODE_CUT = 1 << 1,      /* owns NS below the apex: a delegation */
	DNS_NODE_SERVICE = 1 << 2,  /* a steered service; see node->service */
};

/* A glue entry of a delegation: a node owning A/AAAA for one NS target.
 * `required` when the target lies at or below the cut itself (without the
 * glue the child could not be reached; RFC 9471). */
typedef struct dns_glue {
	const struct dns_node *node;
	bool required;
} dns_glue_t;

typedef struct dns_node {
	uint8_t *name;              /* owned, lower-case wire */
	uint8_t name_len;
	uint8_t flags;              /* DNS_NODE_* */
	uint16_t nsets;
	uint32_t service;           /* valid with DNS_NODE_SERVICE */
	uint32_t zone;              /* index of its zone */
	dns_rrset_t *sets;          /* sorted by type; NULL when nsets == 0 */
	/* The topmost delegation at or above this node (the node itself when
	 * it is one), NULL when the node is authoritative data. */
	const struct dns_node *cut;
	uint32_t nglue;             /* at a cut: its glue, required first */
	dns_glue_t *glue;
} dns_node_t;

typedef struct dns_zone {
	uint8_t *apex;              /* owned, lower-case wire */
	uint8_t apex_len;
	uint8_t apex_labels;        /* labels before the root */
	char *origin;               /* presentation form, for messages */
	char *path;
	const dns_node_t *apex_node;
	/* The SOA for negative answers: its TTL lowered to min(TTL, MINIMUM)
	 * (RFC 2308 5). */
	dns_rrwire_t soa_neg;
} dns_zone_t;

typedef enum dns_lookup_kind {
	DNS_LOOKUP_REFUSED = 0,     /* in no zone of ours */
	DNS_LOOKUP_FOUND,           /* node: the name (maybe an empty non-terminal) */
	DNS_LOOKUP_WILDCARD,        /* node: the wildcard that covers the name */
	DNS_LOOKUP_NXDOMAIN,        /* node: the closest encloser */
	DNS_LOOKUP_REFERRAL,        /* node: the (topmost) cut at or above the name */
} dns_lookup_kind_t;

typedef struct dns_lookup {
	dns_lookup_kind_t kind;
	const dns_zone_t *zone;     /* NULL with DNS_LOOKUP_REFUSED */
	const dns_node_t *node;
} dns_lookup_t;

/*
 * Finds `name` (lower-case wire, `len` bytes, label offsets `off` and
 * `nlabels` as dns_name_labels() gives them): the zone with the longest
 * matching apex, then the node, its closest encloser, a wildcard
 * (RFC 4592) or the delegation that covers it.
 *
 * `for_ds`: the query is for DS, which the parent side of a cut answers
 * (RFC 4035 3.1.4.1): a cut at the name itself is not a referral, and a name
 * that is the apex of one of our zones is looked up in our parent zone if
 * we serve one.
 *
 * Worker threads; no allocation.  `zs` must be frozen.
 */
void dns_zoneset_lookup(const dns_zoneset_t *zs, const uint8_t *name, size_t len,
                        const uint8_t *off, unsigned nlabels, bool for_ds,
                        dns_lookup_t *res);

/* The RRset of `type` at `n`, or NULL.  Worker threads. */
const dns_rrset_t *dns_node_rrset(const dns_node_t *n, uint16_t type);

/* Zone number `i`, or NULL when i >= dns_zoneset_count().  Any thread once
 * frozen. */
const dns_zone_t *dns_zoneset_zone(const dns_zoneset_t *zs, size_t i);
