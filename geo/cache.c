/*
 * The per-worker order cache.  Open addressing with a probe window of
 * PROBE slots: a lookup reads at most PROBE keys in (usually) one or two
 * cache lines, and an insert into a full window evicts one of them in turn,
 * so the table never needs rehashing or tombstones.
 */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "geo/cache.h"

#define PROBE 4

struct slot {
	uint64_t key;             /* 0 = empty */
	uint32_t gen;
	int32_t tag;              /* the CIDR rule the order came from, or -1 */
	uint16_t n;
	uint8_t how;
	int32_t rule;
};

struct geo_cache {
	struct slot *slots;
	uint16_t *orders;         /* slots × max_cities */
	size_t mask;
	size_t max_cities;
	unsigned victim;          /* rotates through the window on eviction */
	geo_cache_stats_t st;
};

geo_cache_t *geo_cache_new(size_t slots, size_t max_cities)
{
	size_t n = 8;
	while (n < slots)
		n <<= 1;
	if (max_cities == 0)
		max_cities = 1;
	geo_cache_t *c = gtm_xcalloc(1, sizeof(*c));
	c->slots = gtm_xcalloc(n, sizeof(*c->slots));
	c->orders = gtm_xcalloc(n * max_cities, sizeof(*c->orders));
	c->mask = n - 1;
	c->max_cities = max_cities;
	return c;
}

void geo_cache_free(geo_cache_t *c)
{
	if (c == NULL)
		return;
	free(c->orders);
	free(c->slots);
	free(c);
}

void geo_cache_clear(geo_cache_t *c)
{
	memset(c->slots, 0, (c->mask + 1) * sizeof(*c->slots));
}

/* A 64-bit finaliser (MurmurHash3's fmix64): the keys are offsets, which
 * differ mostly in their low and middle bits. */
static inline size_t hash(uint32_t gen, int32_t tag, uint64_t key)
{
	uint64_t h = key ^ ((uint64_t)gen * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)(uint32_t)tag << 40);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (size_t)h;
}

static size_t cache_get(geo_cache_t *c, uint32_t map_gen, int32_t tag, uint64_t key,
                        uint16_t *out, geo_order_info_t *info)
{
	if (key == 0)
		return 0;
	size_t h = hash(map_gen, tag, key);
	for (size_t i = 0; i < PROBE; i++) {
		size_t at = (h + i) & c->mask;
		const struct slot *s = &c->slots[at];
		if (s->key == key && s->gen == map_gen && s->tag == tag) {
			memcpy(out, &c->orders[at * c->max_cities], s->n * sizeof(*out));
			if (info != NULL) {
				info->how = (geo_how_t)s->how;
				info->rule = s->rule;
				info->by_location = tag < 0;
			}
			c->st.hits++;
			return s->n;
		}
		if (s->key == 0)
			break;
	}
	c->st.misses++;
	return 0;
}

static void cache_put(geo_cache_t *c, uint32_t map_gen, int32_t tag, uint64_t key,
                      const uint16_t *order, size_t n, const geo_order_info_t *info)
{
	if (key == 0 || n == 0 || n > c->max_cities)
		return;
	size_t h = hash(map_gen, tag, key);
	size_t at = SIZE_MAX;
	for (size_t i = 0; i < PROBE; i++) {
		size_t j = (h + i) & c->mask;
		const struct slot *s = &c->slots[j];
		if (s->key == 0 || (s->key == key && s->gen == map_gen && s->tag == tag)) {
			at = j;
			break;
		}
	}
	if (at == SIZE_MAX) {
		at = (h + c->victim) & c->mask;
		c->victim = (c->victim + 1) % PROBE;
		c->st.evictions++;
	}
	struct slot *s = &c->slots[at];
	s->key = key;
	s->gen = map_gen;
	s->tag = tag;
	s->n = (uint16_t)n;
	s->how = info != NULL ? (uint8_t)info->how : 0;
	s->rule = info != NULL ? info->rule : -1;
	memcpy(&c->orders[at * c->max_cities], order, n * sizeof(*order));
}

size_t geo_cache_get(geo_cache_t *c, uint32_t map_gen, uint64_t key, uint16_t *out,
                     geo_order_info_t *info)
{
	return cache_get(c, map_gen, -1, key, out, info);
}

void geo_cache_put(geo_cache_t *c, uint32_t map_gen, uint64_t key, const uint16_t *order,
                   size_t n, const geo_order_info_t *info)
{
	cache_put(c, map_gen, -1, key, order, n, info);
}

/*
 * The order for a located client depends on its record and, when a CIDR rule
 * matches, on that rule (which cities come first) — never on anything else
 * of the address; the scope alone does, and is recomputed.  So entries are
 * keyed by (map, CIDR rule or -1, record).
 */
static size_t cached_order(geo_cache_t *c, const geo_db_t *db, const geo_map_t *m,
                           const struct sockaddr *sa, geo_loc_t *loc, uint16_t *out,
                           geo_order_info_t *info)
{
	unsigned depth;
	int32_t tag = geo_map_match_cidr(m, sa, &depth);
	uint32_t gen = geo_map_generation(m);
	size_t n = cache_get(c, gen, tag, loc->key, out, info);
	if (n != 0) {
		info->scope = (tag >= 0 || loc->prefix < depth) ? depth : loc->prefix;
		return n;
	}
	if (db != NULL)
		geo_db_fill(db, loc);
	n = geo_map_order(m, sa, loc, out, info);
	cache_put(c, gen, tag, loc->key, out, n, info);
	return n;
}

size_t geo_cache_order(geo_cache_t *c, const geo_map_t *m, const struct sockaddr *sa,
                       const geo_loc_t *loc, uint16_t *out, geo_order_info_t *info)
{
	geo_order_info_t tmp;

	if (info == NULL)
		info = &tmp;
	/* Without a record there is no key; the default order is a copy anyway. */
	if (loc == NULL || !loc->found)
		return geo_map_order(m, sa, loc, out, info);
	geo_loc_t copy = *loc;
	return cached_order(c, NULL, m, sa, &copy, out, info);
}

int geo_cache_locate_order(geo_cache_t *c, const geo_db_t *db, const geo_map_t *m,
                           const struct sockaddr *sa, geo_loc_t *loc, uint16_t *out,
                           geo_order_info_t *info)
{
	geo_order_info_t tmp;

	if (info == NULL)
		info = &tmp;
	int rc = geo_db_locate(db, sa, loc);
	if (rc < 0)
		return rc;
	if (!loc->found)
		return (int)geo_map_order(m, sa, loc, out, info);
	return (int)cached_order(c, db, m, sa, loc, out, info);
}

void geo_cache_get_stats(const geo_cache_t *c, geo_cache_stats_t *st)
{
	*st = c->st;
}
