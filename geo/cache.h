/*
 * A per-worker cache of city orders, keyed by location.
 *
 * A DNS worker owns one (single-threaded: no locks) and asks it instead of
 * geo_map_order(): most queries come from a few thousand locations, and an
 * order computed for a location record stays right until the database or
 * the map changes, which the key covers (geo_loc_t.key names the record and
 * the opened database; the map's generation names the map).  Entries for
 * an old database or map are simply never hit again and get evicted.
 *
 * The query path is geo_cache_locate_order(): one search-tree walk, one
 * cache probe, and the record decoded only on a miss.
 *
 * Fixed size, open addressing with a short probe window; all memory is
 * allocated by geo_cache_new().  An entry is keyed by (map generation,
 * CIDR rule that matched or none, location key); the ECS scope, which does
 * depend on the address, is recomputed on a hit.  Unlocated clients are not
 * cached (their order is the default order, a copy).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "geo/db.h"
#include "geo/map.h"

typedef struct geo_cache geo_cache_t;

typedef struct geo_cache_stats {
	uint64_t hits, misses, evictions;
} geo_cache_stats_t;

/*
 * A cache of `slots` entries (rounded up to a power of two, at least 8), each
 * holding an order of up to `max_cities` cities (maps with more are computed
 * every time).  Memory: about slots × (24 + 2 × max_cities) bytes.  Control
 * thread (or the owning worker before it serves); aborts on OOM.
 */
geo_cache_t *geo_cache_new(size_t slots, size_t max_cities);

/* Frees.  NULL does nothing.  The owning thread. */
void geo_cache_free(geo_cache_t *c);

/* Forgets every entry (statistics stay).  The owning thread. */
void geo_cache_clear(geo_cache_t *c);

/*
 * geo_map_order() through the cache: same arguments, same results (the
 * scope is recomputed for the address on a hit).  No allocation, no lock.
 * The owning thread only.
 */
size_t geo_cache_order(geo_cache_t *c, const geo_map_t *m, const struct sockaddr *sa,
                       const geo_loc_t *loc, uint16_t *out, geo_order_info_t *info);

/*
 * Locates `sa` in `db` and orders the cities of `m`, decoding the database
 * record only when the order is not in the cache: the cheapest query path,
 * one search-tree walk and one cache probe on a hit.  On return loc->found,
 * prefix and key are set; its other fields are filled only when the order
 * had to be computed (or did not come from the cache).  Returns the number of
 * cities written, or a negative GTM_E* from geo_db_locate() (then nothing is
 * written).  The owning thread only; no allocation.
 */
int geo_cache_locate_order(geo_cache_t *c, const geo_db_t *db, const geo_map_t *m,
                           const struct sockaddr *sa, geo_loc_t *loc, uint16_t *out,
                           geo_order_info_t *info);

/*
 * The raw operations (entries without a CIDR rule), for callers that cache
 * something else per location.
 * geo_cache_get() copies a hit into out (room for max_cities) and *info (if
 * non-NULL; its scope is left as stored) and returns its length, or 0 on a
 * miss.  geo_cache_put() stores (or replaces) an entry, evicting one in the
 * probe window when it is full; it ignores n == 0, n > max_cities and key 0.
 */
size_t geo_cache_get(geo_cache_t *c, uint32_t map_gen, uint64_t key, uint16_t *out,
                     geo_order_info_t *info);
void geo_cache_put(geo_cache_t *c, uint32_t map_gen, uint64_t key, const uint16_t *order,
                   size_t n, const geo_order_info_t *info);

/* Counters since geo_cache_new(). */
void geo_cache_get_stats(const geo_cache_t *c, geo_cache_stats_t *st);
