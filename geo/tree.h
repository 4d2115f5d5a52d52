/*
 * The geo tree: the GeoIP database and the city map translated, at load,
 * into one small binary prefix tree whose leaves are regions (as gdnsd's
 * libgdmaps does), so that locating a client is one walk over at most 32
 * or 128 bits of our own array and no database access at all.
 *
 * A region is a distinct city order (every city of the map, best first);
 * regions are numbered from 0, and region 0 is the map's default order.
 * Building walks every network of the database (both files when IPv4 and
 * IPv6 are separate) together with the map's CIDR rules, decodes each data
 * record once, orders the cities for it exactly as geo_map_order() does
 * (CIDR rule, subdivision, country, continent, distance, default), interns
 * the order, and merges two sibling leaves of the same region into their
 * parent.  So the depth of the leaf an address reaches is the shortest
 * prefix over which every address gets the same order: the ECS scope.
 *
 * Addresses are looked up as geo_db_lookup() + geo_map_order() would: an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is IPv4 and gets an IPv4
 * scope; other IPv6 addresses (the database's own aliases of IPv4 space,
 * 2002::/16 and 2001::/32, included) are IPv6.  Addresses in no network
 * get the order of an unlocated client (the default order unless a CIDR
 * rule covers them).
 *
 * Threads: geo_tree_new() and the references on the control thread; a
 * built tree is immutable, and any number of DNS workers may call the
 * lookups at once, without locks or allocation.  Like geo_db_t and
 * geo_map_t it is shared by snapshots and freed only after readers are done.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/diag.h"
#include "geo/db.h"
#include "geo/map.h"

typedef struct geo_tree geo_tree_t;

/* What a build made and what it cost, for the log and benchmarks. */
typedef struct geo_tree_stats {
	uint64_t nodes;           /* interior nodes below the tables, 8 bytes each (with
	                           * the padding that keeps blocks in cache lines) */
	uint64_t leaves;          /* networks after merging, both families */
	uint64_t regions;         /* distinct city orders */
	uint64_t records;         /* (data record, CIDR rule) pairs ordered */
	uint64_t visits;          /* database search-tree nodes read */
	size_t bytes;             /* memory the built tree holds */
	double build_ms;          /* wall-clock time of geo_tree_new() */
} geo_tree_stats_t;

/*
 * Builds the tree for `map` over `db` (NULL: no database, every client
 * unlocated; the CIDR rules still apply).  Both are borrowed: the tree
 * keeps nothing of either.  Returns the tree (one reference, the caller's)
 * and logs one line at debug with its statistics, or NULL with a message in
 * `diag` (if non-NULL) when the database's search tree is corrupt.  Having
 * read the whole database, it drops the files' pages from the process's
 * resident memory (geo_db_release_pages()).  Control thread;
 * allocates (aborts on OOM); for the real GeoLite2 City database it takes
 * a few hundred milliseconds (see tests/bench/README.md).
 */
geo_tree_t *geo_tree_new(const geo_db_t *db, const geo_map_t *map, gtm_diag_t *diag);

/* Reference counting, as geo_db_ref/unref: control thread only, the last
 * unref after readers are done.  NULL does nothing. */
void geo_tree_ref(geo_tree_t *t);
void geo_tree_unref(geo_tree_t *t);

/* The number of cities in every order (the map's). */
size_t geo_tree_ncities(const geo_tree_t *t);

/* The number of regions; region ids are 0 .. geo_tree_nregions() - 1. */
size_t geo_tree_nregions(const geo_tree_t *t);

/*
 * The region of `sa` (AF_INET, or AF_INET6; NULL or another family: region
 * 0, the default order, scope 0).  *scope (if non-NULL) gets the depth of
 * the leaf: the prefix length, in the address's own family (IPv4 bits for
 * an IPv4-mapped address), over which every address gets this region.
 * One walk of at most 32 or 128 bits; no allocation, no lock.  Any thread.
 */
uint32_t geo_tree_lookup(const geo_tree_t *t, const struct sockaddr *sa, unsigned *scope);

/* The order of a region: geo_tree_ncities() city indices, best first.
 * Valid as long as the tree. Any thread. */
const uint16_t *geo_tree_region(const geo_tree_t *t, uint32_t region);

/* geo_tree_region(geo_tree_lookup()): the order for `sa`, in one call. */
const uint16_t *geo_tree_order(const geo_tree_t *t, const struct sockaddr *sa, unsigned *scope);

void geo_tree_get_stats(const geo_tree_t *t, geo_tree_stats_t *st);
