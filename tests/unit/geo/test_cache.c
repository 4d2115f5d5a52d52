/*
 * Unit tests of geo/cache.c: hits and misses, results identical to
 * geo_map_order() (scope included), eviction in a full table, generation
 * changes, and the orders that must never be cached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "geo/cache.h"
#include "geo/map.h"
#include "geo_test.h"

static geo_map_t *fixture_map(void)
{
	geo_point_t pts[NFIXTURE_CITIES];
	for (size_t i = 0; i < NFIXTURE_CITIES; i++) {
		pts[i].lat = fixture_cities[i].lat;
		pts[i].lon = fixture_cities[i].lon;
	}
	gtm_diag_t d = { 0 };
	geo_map_t *m = geo_map_new("fixture", pts, NFIXTURE_CITIES, &d);
	assert_non_null(m);
	/* Half of Frankfurt's network goes to Ashburn (6) first by CIDR. */
	const uint16_t iad[] = { 6 };
	assert_int_equal(geo_map_add_cidr(m, "192.0.2.0/25", iad, 1, &d, NULL, 0), 0);
	return m;
}

static void same_as_map(geo_cache_t *c, const geo_map_t *m, const struct sockaddr *sa,
                        const geo_loc_t *loc)
{
	uint16_t a[NFIXTURE_CITIES], b[NFIXTURE_CITIES];
	geo_order_info_t ia, ib;
	size_t na = geo_map_order(m, sa, loc, a, &ia);
	size_t nb = geo_cache_order(c, m, sa, loc, b, &ib);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na * sizeof(a[0]));
	assert_int_equal(ia.how, ib.how);
	assert_int_equal(ia.rule, ib.rule);
	assert_int_equal(ia.scope, ib.scope);
	assert_int_equal(ia.by_location, ib.by_location);
}

static void test_hit_miss(void **state)
{
	geo_db_t *db = open_fixture("geoip2", "geoip2-city.mmdb", NULL);
	geo_map_t *m = fixture_map();
	geo_cache_t *c = geo_cache_new(64, NFIXTURE_CITIES);
	geo_cache_stats_t st;
	struct sockaddr_storage ss;
	geo_loc_t loc;

	/* Beijing: miss, then hit; another address of the same record hits too,
	 * with its own scope. */
	const struct sockaddr *sa = mkaddr(&ss, "198.18.7.9");
	geo_db_lookup(db, sa, &loc);
	same_as_map(c, m, sa, &loc);
	geo_cache_get_stats(c, &st);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.hits, 0);
	same_as_map(c, m, sa, &loc);
	geo_cache_get_stats(c, &st);
	assert_int_equal(st.hits, 1);

	/* Every city, v4 and v6, twice: the second round is all hits
	 * (Frankfurt's IPv4 address, inside the CIDR rule, included). */
	geo_cache_stats_t r0;
	for (int round = 0; round < 2; round++) {
		if (round == 1)
			geo_cache_get_stats(c, &r0);
		for (size_t i = 0; i < NFIXTURE_CITIES; i++) {
			for (int v6 = 0; v6 < 2; v6++) {
				sa = mkaddr(&ss, v6 ? fixture_cities[i].v6 : fixture_cities[i].v4);
				geo_db_lookup(db, sa, &loc);
				same_as_map(c, m, sa, &loc);
			}
		}
	}
	geo_cache_get_stats(c, &st);
	assert_int_equal(st.misses, r0.misses);
	assert_int_equal(st.hits, r0.hits + 2 * NFIXTURE_CITIES);
	assert_int_equal(st.evictions, 0);
	/* At most one miss per distinct record (the geoip2 fixture shares a
	 * city's record between its v4 and v6 networks). */
	assert_true(r0.misses <= 2 * NFIXTURE_CITIES);

	/* One record, two answers: inside and outside the CIDR rule, in either
	 * order, each with its own scope. */
	for (int round = 0; round < 2; round++) {
		sa = mkaddr(&ss, "192.0.2.10");
		geo_db_lookup(db, sa, &loc);
		uint64_t k = loc.key;
		same_as_map(c, m, sa, &loc);
		sa = mkaddr(&ss, "192.0.2.200");
		geo_db_lookup(db, sa, &loc);
		assert_true(loc.key == k);
		same_as_map(c, m, sa, &loc);
	}
	geo_cache_get_stats(c, &st);

	/* Not found: bypasses the cache. */
	geo_cache_stats_t before = st;
	sa = mkaddr(&ss, "8.8.8.8");
	geo_db_lookup(db, sa, &loc);
	assert_false(loc.found);
	same_as_map(c, m, sa, &loc);
	same_as_map(c, m, sa, NULL);
	geo_cache_get_stats(c, &st);
	assert_memory_equal(&st, &before, sizeof(st));

	/* Clear forgets. */
	geo_cache_clear(c);
	sa = mkaddr(&ss, "198.18.7.9");
	geo_db_lookup(db, sa, &loc);
	same_as_map(c, m, sa, &loc);
	geo_cache_get_stats(c, &st);
	assert_int_equal(st.misses, before.misses + 1);

	geo_cache_free(c);
	geo_map_free(m);
	geo_db_free(db);
}

/* geo_cache_locate_order() gives what lookup + geo_map_order() gives. */
static void test_locate_order(void **state)
{
	geo_db_t *db = open_fixture("geoip2", "geoip2-city.mmdb", NULL);
	geo_map_t *m = fixture_map();
	geo_cache_t *c = geo_cache_new(64, NFIXTURE_CITIES);
	struct sockaddr_storage ss;
	const char *extra[] = { "8.8.8.8", "3fff:f00::1", FIXTURE_COUNTRY_ONLY_V4, FIXTURE_COUNTRY_ONLY_V6 };

	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < NFIXTURE_CITIES * 2 + 4; i++) {
			const char *text = i < NFIXTURE_CITIES * 2
				? (i % 2 ? fixture_cities[i / 2].v6 : fixture_cities[i / 2].v4)
				: extra[i - NFIXTURE_CITIES * 2];
			const struct sockaddr *sa = mkaddr(&ss, text);
			geo_loc_t full, loc;
			uint16_t a[NFIXTURE_CITIES], b[NFIXTURE_CITIES];
			geo_order_info_t ia, ib;
			geo_db_lookup(db, sa, &full);
			size_t na = geo_map_order(m, sa, &full, a, &ia);
			int nb = geo_cache_locate_order(c, db, m, sa, &loc, b, &ib);
			assert_int_equal(na, nb);
			assert_memory_equal(a, b, na * sizeof(a[0]));
			assert_int_equal(ia.how, ib.how);
			assert_int_equal(ia.rule, ib.rule);
			assert_int_equal(ia.scope, ib.scope);
			assert_true(loc.key == full.key);
			assert_int_equal(loc.found, full.found);
			assert_int_equal(loc.prefix, full.prefix);
		}
	}
	geo_cache_stats_t st;
	geo_cache_get_stats(c, &st);
	assert_true(st.hits >= NFIXTURE_CITIES * 2 - 1);

	/* A bad family is an error, and nothing is written. */
	struct sockaddr sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	geo_loc_t loc;
	uint16_t out[NFIXTURE_CITIES];
	assert_true(geo_cache_locate_order(c, db, m, &sa, &loc, out, NULL) < 0);
	geo_cache_free(c);
	geo_map_free(m);
	geo_db_free(db);
}

static void test_eviction(void **state)
{
	geo_cache_t *c = geo_cache_new(8, 4);
	geo_cache_stats_t st;
	uint16_t out[4];
	geo_order_info_t info = { .how = GEO_BY_DISTANCE, .rule = -1 };

	for (uint64_t k = 1; k <= 64; k++) {
		uint16_t order[4] = { (uint16_t)(k % 4), 0, 0, 0 };
		geo_cache_put(c, 7, k << 8, order, 4, &info);
		/* The entry just stored is always there. */
		assert_int_equal(geo_cache_get(c, 7, k << 8, out, NULL), 4);
		assert_int_equal(out[0], k % 4);
	}
	geo_cache_get_stats(c, &st);
	assert_true(st.evictions >= 64 - 8);
	unsigned present = 0;
	for (uint64_t k = 1; k <= 64; k++)
		present += geo_cache_get(c, 7, k << 8, out, NULL) != 0;
	assert_true(present <= 8);
	assert_true(present >= 1);

	/* Replacing an entry in place is not an eviction. */
	geo_cache_get_stats(c, &st);
	uint16_t order[4] = { 3, 2, 1, 0 };
	geo_cache_put(c, 7, 64 << 8, order, 4, &info);
	geo_cache_stats_t st2;
	geo_cache_get_stats(c, &st2);
	assert_int_equal(st2.evictions, st.evictions);
	assert_int_equal(geo_cache_get(c, 7, 64 << 8, out, &info), 4);
	assert_memory_equal(out, order, sizeof(order));
	assert_int_equal(info.how, GEO_BY_DISTANCE);

	/* Ignored: key 0, n 0, n above max_cities. */
	uint16_t five[5] = { 0 };
	geo_cache_clear(c);
	geo_cache_put(c, 7, 0, order, 4, &info);
	geo_cache_put(c, 7, 99, order, 0, &info);
	geo_cache_put(c, 7, 98, five, 5, &info);
	assert_int_equal(geo_cache_get(c, 7, 0, out, NULL), 0);
	assert_int_equal(geo_cache_get(c, 7, 99, out, NULL), 0);
	assert_int_equal(geo_cache_get(c, 7, 98, out, NULL), 0);
	geo_cache_free(c);
	geo_cache_free(NULL);
}

static void test_generation(void **state)
{
	geo_db_t *db = open_fixture("flat", "flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb");
	geo_map_t *m1 = fixture_map();
	geo_cache_t *c = geo_cache_new(64, NFIXTURE_CITIES);
	struct sockaddr_storage ss;
	geo_loc_t loc;
	geo_cache_stats_t st;
	uint16_t out[NFIXTURE_CITIES];

	const struct sockaddr *sa = mkaddr(&ss, fixture_cities[7].v4);   /* Tokyo */
	geo_db_lookup(db, sa, &loc);
	geo_cache_order(c, m1, sa, &loc, out, NULL);
	geo_cache_order(c, m1, sa, &loc, out, NULL);
	geo_cache_get_stats(c, &st);
	assert_int_equal(st.hits, 1);
	assert_int_equal(out[0], 7);

	/* A new map (new config): same location, different generation, and its
	 * own answer. */
	geo_map_t *m2 = fixture_map();
	const uint16_t sin[] = { 8 };
	gtm_diag_t d = { 0 };
	assert_int_equal(geo_map_add_country(m2, "JP", sin, 1, &d, NULL, 0), 0);
	geo_cache_order(c, m2, sa, &loc, out, NULL);
	geo_cache_get_stats(c, &st);
	assert_int_equal(st.misses, 2);
	assert_int_equal(out[0], 8);
	geo_cache_order(c, m2, sa, &loc, out, NULL);
	assert_int_equal(out[0], 8);
	/* The old map's entry is still right for the old map. */
	geo_cache_order(c, m1, sa, &loc, out, NULL);
	assert_int_equal(out[0], 7);
	geo_cache_get_stats(c, &st);
	assert_int_equal(st.hits, 3);

	/* A reopened database (reload): new keys, so misses. */
	geo_db_t *db2 = open_fixture("flat", "flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb");
	geo_loc_t loc2;
	geo_db_lookup(db2, sa, &loc2);
	assert_true(loc2.key != loc.key);
	geo_cache_order(c, m2, sa, &loc2, out, NULL);
	geo_cache_get_stats(c, &st);
	assert_int_equal(st.misses, 3);

	/* A map with more cities than the cache holds is computed every time. */
	geo_cache_t *small = geo_cache_new(16, 2);
	same_as_map(small, m1, sa, &loc);
	same_as_map(small, m1, sa, &loc);
	geo_cache_get_stats(small, &st);
	assert_int_equal(st.hits, 0);

	geo_cache_free(small);
	geo_cache_free(c);
	geo_map_free(m1);
	geo_map_free(m2);
	geo_db_free(db);
	geo_db_free(db2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_miss),
		cmocka_unit_test(test_locate_order),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_generation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
