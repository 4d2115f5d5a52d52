/*
 * The query-path functions of geo/ never allocate: geo_tree_lookup(),
 * geo_tree_order() (the DNS workers' path), and geo_db_lookup() +
 * geo_map_order() (the plain path, for `gtmctl explain`), over
 * every fixture address in both schemas (IPv4, IPv6, IPv4-mapped and
 * unlocated clients), with every kind of rule in the map.
 *
 * tests/unit/alloc_count.h counts every malloc-family call in the process,
 * so allocations inside libmaxminddb are seen too.  Under AddressSanitizer
 * the count is unavailable and only the results are checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "geo/db.h"
#include "geo/map.h"
#include "geo/tree.h"
#include "geo_test.h"
#include "tests/unit/alloc_count.h"


static void test_query_path_does_not_allocate(void **state)
{
	geo_point_t pts[NFIXTURE_CITIES];
	for (size_t i = 0; i < NFIXTURE_CITIES; i++) {
		pts[i].lat = fixture_cities[i].lat;
		pts[i].lon = fixture_cities[i].lon;
	}
	gtm_diag_t d = { 0 };
	geo_map_t *m = geo_map_new("noalloc", pts, NFIXTURE_CITIES, &d);
	const uint16_t o1[] = { 3, 1 }, o2[] = { 9 }, o3[] = { 5, 6, 7 };
	assert_int_equal(geo_map_add_cidr(m, "198.18.0.0/17", o1, 2, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_cidr(m, "2001:db8:100::/56", o2, 1, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_subdivision(m, "CN-ZJ", o3, 3, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_subdivision(m, "CN-Zhejiang", o3, 3, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_country(m, "JP", o2, 1, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_continent(m, "SA", o1, 2, &d, NULL, 0), 0);
	assert_int_equal(geo_map_set_default(m, o3, 3, &d, NULL, 0), 0);
	print_diag(&d);

	geo_db_t *dbs[2] = {
		open_fixture("geoip2", "geoip2-city.mmdb", NULL),
		open_fixture("flat", "flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb"),
	};
	assert_non_null(dbs[0]);
	assert_non_null(dbs[1]);
	geo_tree_t *trees[2] = { geo_tree_new(dbs[0], m, &d), geo_tree_new(dbs[1], m, &d) };
	assert_non_null(trees[0]);
	assert_non_null(trees[1]);

	/* Every address, prepared before counting starts. */
	enum { NADDR = NFIXTURE_CITIES * 3 + 4 };
	struct sockaddr_storage addrs[NADDR];
	size_t na = 0;
	char mapped[64];
	for (size_t i = 0; i < NFIXTURE_CITIES; i++) {
		mkaddr(&addrs[na++], fixture_cities[i].v4);
		mkaddr(&addrs[na++], fixture_cities[i].v6);
		snprintf(mapped, sizeof(mapped), "::ffff:%s", fixture_cities[i].v4);
		mkaddr(&addrs[na++], mapped);
	}
	mkaddr(&addrs[na++], "8.8.8.8");
	mkaddr(&addrs[na++], "2001:db8:ffff::1");
	mkaddr(&addrs[na++], FIXTURE_COUNTRY_ONLY_V4);
	mkaddr(&addrs[na++], FIXTURE_COUNTRY_ONLY_V6);
	assert_int_equal(na, NADDR);

	unsigned located = 0, firsts = 0, thirds = 0;
	gtm_alloc_count_start();
	for (int round = 0; round < 3; round++) {
		for (int s = 0; s < 2; s++) {
			for (size_t i = 0; i < na; i++) {
				const struct sockaddr *sa = (const struct sockaddr *)&addrs[i];
				geo_loc_t loc;
				uint16_t out[NFIXTURE_CITIES];
				geo_order_info_t info;
				if (geo_db_lookup(dbs[s], sa, &loc) != 0)
					continue;
				located += loc.found;
				size_t n = geo_map_order(m, sa, &loc, out, &info);
				unsigned scope;
				const uint16_t *got = geo_tree_order(trees[s], sa, &scope);
				if (memcmp(out, got, n * sizeof(out[0])) == 0 && scope <= info.scope)
					firsts++;
				uint32_t region = geo_tree_lookup(trees[s], sa, NULL);
				if (geo_tree_region(trees[s], region) == got)
					thirds++;
			}
		}
	}
	long allocs = gtm_alloc_count_stop();

	assert_int_equal(located, 3 * 2 * (NFIXTURE_CITIES * 3 + 2));
	assert_int_equal(firsts, 3 * 2 * NADDR);
	assert_int_equal(thirds, 3 * 2 * NADDR);
	if (gtm_alloc_count_available()) {
		if (allocs != 0)
			fprintf(stderr, "%ld allocator calls on the query path\n", allocs);
		assert_int_equal(allocs, 0);
	}

	geo_tree_unref(trees[0]);
	geo_tree_unref(trees[1]);
	geo_db_free(dbs[0]);
	geo_db_free(dbs[1]);
	geo_map_free(m);
}

/* The check itself works: an allocation while counting is seen. */
static void test_counter_sees_malloc(void **state)
{
	if (!gtm_alloc_count_available())
		skip();
	void *(*volatile m)(size_t) = malloc;
	void (*volatile f)(void *) = free;
	gtm_alloc_count_start();
	f(m(16));
	assert_int_equal(gtm_alloc_count_stop(), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_sees_malloc),
		cmocka_unit_test(test_query_path_does_not_allocate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
