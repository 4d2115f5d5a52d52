/*
 * Region maps: which cities a client should try, in order.
 *
 * A map knows the cities (their coordinates, in config order; a city is its
 * index), explicit rules from the config, and a default order.  For one
 * client it produces every city index once, best first:
 *
 *   1. CIDR rules, longest prefix first (IPv4 and IPv6 separately; an
 *      IPv4-mapped IPv6 client counts as IPv4);
 *   2. else a subdivision rule ("CN-BJ", "US-VA"; with the "flat" preset the
 *      subdivision is a name: "US-Virginia"; compared without regard to ASCII
 *      case);
 *   3. else a country rule ("CN");
 *   4. else a continent rule ("AS");
 *   5. else, when the location has coordinates, every city by great-circle
 *      distance, nearest first (ties by index);
 *   6. else the default order (config order unless one was set).
 *
 * A rule may list only some cities: those come first, in the rule's order,
 * and the others follow by distance when the client has coordinates, else in
 * the default order.  The same key in two rules is an error.
 *
 * Threads: build (geo_map_new, geo_map_add_*, geo_map_set_default) and free
 * on the control thread; a built map is immutable, and geo_map_order() may
 * run on any number of workers at once.  It never allocates.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/diag.h"
#include "geo/db.h"

/* Most cities a map holds (indices are uint16_t; orders live on the stack). */
#define GEO_MAX_CITIES 256

typedef struct geo_point {
	double lat, lon;          /* degrees */
} geo_point_t;

/* Why an order came out as it did (for `gtmctl explain` and metrics). */
typedef enum geo_how {
	GEO_BY_DEFAULT = 0,       /* no location (or no coordinates): the default order */
	GEO_BY_DISTANCE,          /* nearest first */
	GEO_BY_CIDR,
	GEO_BY_SUBDIVISION,
	GEO_BY_COUNTRY,
	GEO_BY_CONTINENT,
} geo_how_t;

typedef struct geo_order_info {
	geo_how_t how;
	/* The rule that matched: the 0-based count of successful geo_map_add_*
	 * calls before it, or -1. */
	int rule;
	/*
	 * The prefix length (in the client's family) over which this answer is
	 * the same: the ECS SCOPE PREFIX-LENGTH.  For a CIDR rule, the depth at
	 * which the rule set stops distinguishing addresses; otherwise the larger
	 * of that and loc->prefix.  The DNS side still caps it at the source
	 * prefix.
	 */
	unsigned scope;
} geo_order_info_t;

typedef struct geo_map geo_map_t;

/*
 * Great-circle distance in km between two points (haversine, mean Earth
 * radius 6371.0088 km).  Pure; any thread.
 */
double geo_distance_km(double lat1, double lon1, double lat2, double lon2);

/*
 * A new map over `n` cities (1..GEO_MAX_CITIES; coordinates copied) with
 * no rules and config order as the default.  Returns NULL (and adds to
 * `diag` if non-NULL) when n is out of range or a coordinate is not a valid
 * latitude/longitude.  `name` (may be NULL) prefixes diagnostics and is
 * copied.
 */
geo_map_t *geo_map_new(const char *name, const geo_point_t *cities, size_t n, gtm_diag_t *diag);

/*
 * Reference counting, so that snapshots can share one map: a new map holds
 * one reference (its builder's).  geo_map_ref() adds one; geo_map_unref()
 * drops one and frees at zero.  NULL does nothing.  Control thread only;
 * the last unref only after readers are done.
 */
void geo_map_ref(geo_map_t *m);
void geo_map_unref(geo_map_t *m);

/* The same as geo_map_unref(): drops the caller's reference.  NULL does
 * nothing.  Control thread, after readers are done. */
void geo_map_free(geo_map_t *m);

/* Number of cities, i.e. what geo_map_order() writes. */
size_t geo_map_ncities(const geo_map_t *m);

/*
 * A number unique to this map in the process (never reused, never 0), for
 * cache keys.  A map is immutable once built, so a new configuration means
 * a new map and a new number.
 */
uint32_t geo_map_generation(const geo_map_t *m);

/*
 * Rules.  Each call adds one key mapping to `cities` (n indices, 1..ncities,
 * each < ncities and at most once); the order is copied.  Errors: returns
 * GTM_EINVAL (bad key syntax, bad index, duplicate index, empty list) or
 * GTM_EEXIST (the key is already mapped), and adds "file:line: message" to
 * `diag` (required; file may be NULL, line <= 0 leaves the line out).  The
 * map is unchanged on error.
 *
 *   cidr         "192.0.2.0/24", "2001:db8::/32", or a bare address (a host
 *                route); host bits must be zero.
 *   country      ISO 3166-1 alpha-2 ("CN"; any case).
 *   continent    AF AN AS EU NA OC SA (any case).
 *   subdivision  "CC-SUB": a country code, '-', then the subdivision as the
 *                database reports it (ISO 3166-2 code "BJ" with "geoip2",
 *                a name like "Virginia" with "flat"), at most
 *                GEO_SUBDIVISION_MAX bytes.
 */
int geo_map_add_cidr(geo_map_t *m, const char *cidr, const uint16_t *cities, size_t n,
                     gtm_diag_t *diag, const char *file, int line);
int geo_map_add_country(geo_map_t *m, const char *cc, const uint16_t *cities, size_t n,
                        gtm_diag_t *diag, const char *file, int line);
int geo_map_add_continent(geo_map_t *m, const char *code, const uint16_t *cities, size_t n,
                          gtm_diag_t *diag, const char *file, int line);
int geo_map_add_subdivision(geo_map_t *m, const char *code, const uint16_t *cities, size_t n,
                            gtm_diag_t *diag, const char *file, int line);

/*
 * The order for clients without a usable location: `cities` first, then the
 * rest in config order.  Same errors as the rules (GTM_EEXIST when set twice).
 */
int geo_map_set_default(geo_map_t *m, const uint16_t *cities, size_t n,
                        gtm_diag_t *diag, const char *file, int line);

/*
 * Writes the order for a client into out[0 .. geo_map_ncities(m) - 1] and
 * returns that count.  `sa` is the client (ECS) address, AF_INET or AF_INET6,
 * or NULL to skip the CIDR rules; `loc` is its location (NULL, or !found, or
 * without coordinates, are all handled).  `info` may be NULL.
 *
 * No allocation, no lock; CIDR rules cost at most one bit test per prefix
 * bit, the distance order a few multiplications per city and an insertion
 * sort.  Any thread.
 */
size_t geo_map_order(const geo_map_t *m, const struct sockaddr *sa, const geo_loc_t *loc,
                     uint16_t *out, geo_order_info_t *info);

/*
 * The CIDR step of geo_map_order() alone: returns the rule that matches `sa`
 * (longest prefix), or -1; stores in *depth (if non-NULL) the prefix length
 * over which that outcome is the same (see geo_order_info_t.scope).  Any
 * thread, no allocation.
 */
int geo_map_match_cidr(const geo_map_t *m, const struct sockaddr *sa, unsigned *depth);

/*
 * geo_map_order() after its CIDR step: `cidr_rule` is the CIDR rule that
 * matched the client (a geo_map_match_cidr() result), or -1 for none, in
 * which case the location's rules apply.  info->scope is set to 0 (it
 * depends on the address).  Any thread, no allocation.
 */
size_t geo_map_order_rule(const geo_map_t *m, int cidr_rule, const geo_loc_t *loc,
                          uint16_t *out, geo_order_info_t *info);

/*
 * The CIDR rules as a binary trie, for geo/tree.c, which folds them into
 * its own tree.  geo_map_cidr_root() gives the root for `family` (AF_INET:
 * IPv4 and IPv4-mapped rules; AF_INET6), or GEO_MAP_NO_NODE when the family
 * has no rule.  geo_map_cidr_node() returns the rule at `node` (-1: none)
 * and stores its children, for bit 0 and bit 1 (GEO_MAP_NO_NODE: none).
 */
#define GEO_MAP_NO_NODE UINT32_MAX
uint32_t geo_map_cidr_root(const geo_map_t *m, int family);
int geo_map_cidr_node(const geo_map_t *m, uint32_t node, uint32_t child[2]);
