/*
 * Unit tests of geo/map.c: great-circle distance, nearest-first order,
 * rule precedence (CIDR > subdivision > country > continent > distance >
 * default), CIDR longest match and scope, partial rules, default orders and
 * the errors of the builders; and, end to end with the fixture databases,
 * that every fixture city's clients go to that city first.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/errcode.h"
#include "geo/map.h"
#include "geo_test.h"

/* The map's cities, in config order. */
enum { BJ, SH, GZ, FRA, IAD, SIN, GRU, NCITIES };
static const geo_point_t cities[NCITIES] = {
	[BJ] = { 39.9042, 116.4074 },  [SH] = { 31.2304, 121.4737 }, [GZ] = { 23.1291, 113.2644 },
	[FRA] = { 50.1109, 8.6821 },   [IAD] = { 39.0438, -77.4874 }, [SIN] = { 1.3521, 103.8198 },
	[GRU] = { -23.5505, -46.6333 },
};

#define L(...) ((const uint16_t[]){ __VA_ARGS__ }), (sizeof((const uint16_t[]){ __VA_ARGS__ }) / sizeof(uint16_t))

static geo_loc_t mkloc(const char *cc, const char *cont, const char *sub, double lat, double lon,
                       bool coords, unsigned prefix)
{
	geo_loc_t l;
	memset(&l, 0, sizeof(l));
	l.found = true;
	l.key = 42;
	snprintf(l.country, sizeof(l.country), "%s", cc);
	snprintf(l.continent, sizeof(l.continent), "%s", cont);
	snprintf(l.subdivision, sizeof(l.subdivision), "%s", sub);
	l.lat = lat;
	l.lon = lon;
	l.has_coords = coords;
	l.prefix = (uint8_t)prefix;
	return l;
}

static void assert_order(const uint16_t *got, size_t n, const uint16_t *want, size_t wn)
{
	assert_int_equal(n, wn);
	for (size_t i = 0; i < n; i++) {
		if (got[i] != want[i]) {
			fprintf(stderr, "order differs at %zu:", i);
			for (size_t j = 0; j < n; j++)
				fprintf(stderr, " %u/%u", got[j], want[j]);
			fprintf(stderr, " (got/want)\n");
			fail();
		}
	}
}

/* Every city exactly once, and from position `from` on, nearest first. */
static void assert_nearest_from(const uint16_t *out, size_t n, size_t from, double lat, double lon)
{
	uint8_t seen[GEO_MAX_CITIES] = { 0 };
	for (size_t i = 0; i < n; i++) {
		assert_true(out[i] < n);
		assert_int_equal(seen[out[i]]++, 0);
	}
	for (size_t i = from + 1; i < n; i++) {
		double a = geo_distance_km(lat, lon, cities[out[i - 1]].lat, cities[out[i - 1]].lon);
		double b = geo_distance_km(lat, lon, cities[out[i]].lat, cities[out[i]].lon);
		assert_true(a <= b + 1e-9);
	}
}

static geo_map_t *new_map(void)
{
	gtm_diag_t d = { 0 };
	geo_map_t *m = geo_map_new("test", cities, NCITIES, &d);
	assert_non_null(m);
	assert_int_equal(d.count, 0);
	return m;
}

static void test_distance(void **state)
{
	static const struct { double a, b, c, d, km; } pairs[] = {
		{ 39.9042, 116.4074, 31.2304, 121.4737, 1067 },     /* Beijing–Shanghai */
		{ 51.5074, -0.1278, 48.8566, 2.3522, 344 },         /* London–Paris */
		{ 40.7128, -74.0060, 34.0522, -118.2437, 3936 },    /* New York–Los Angeles */
		{ -33.8688, 151.2093, 35.6762, 139.6503, 7823 },    /* Sydney–Tokyo */
		{ 50.1109, 8.6821, 39.0438, -77.4874, 6530 },       /* Frankfurt–Ashburn */
		{ 0, 0, 0, 180, 20015 },                            /* half the equator */
		{ 90, 0, -90, 0, 20015 },                           /* pole to pole */
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		double km = geo_distance_km(pairs[i].a, pairs[i].b, pairs[i].c, pairs[i].d);
		double back = geo_distance_km(pairs[i].c, pairs[i].d, pairs[i].a, pairs[i].b);
		if (fabs(km - pairs[i].km) > pairs[i].km * 0.01) {
			fprintf(stderr, "pair %zu: %.1f km, expected %.0f\n", i, km, pairs[i].km);
			fail();
		}
		assert_true(fabs(km - back) < 1e-6);
	}
	assert_true(geo_distance_km(31.2304, 121.4737, 31.2304, 121.4737) < 1e-9);
	/* Across the antimeridian: 1 degree of longitude at the equator. */
	assert_true(fabs(geo_distance_km(0, 179.5, 0, -179.5) - 111.2) < 1.0);
}

static void test_nearest(void **state)
{
	geo_map_t *m = new_map();
	uint16_t out[NCITIES];
	geo_order_info_t info;

	/* Shenzhen → Guangzhou first; Hangzhou → Shanghai, then Guangzhou; Tokyo → Shanghai;
	 * Ashburn → Ashburn, then Frankfurt; Sydney → Singapore. */
	static const struct { double lat, lon; uint16_t first, second; } c[] = {
		{ 22.5431, 114.0579, GZ, SH },
		{ 30.2741, 120.1551, SH, GZ },
		{ 35.6762, 139.6503, SH, BJ },
		{ 39.0438, -77.4874, IAD, FRA },
		{ -33.8688, 151.2093, SIN, GZ },
		{ 52.52, 13.405, FRA, IAD },
		{ -34.6037, -58.3816, GRU, IAD },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		geo_loc_t loc = mkloc("", "", "", c[i].lat, c[i].lon, true, 20);
		assert_int_equal(geo_map_order(m, NULL, &loc, out, &info), NCITIES);
		assert_int_equal(info.how, GEO_BY_DISTANCE);
		assert_int_equal(info.rule, -1);
		assert_int_equal(info.scope, 20);
		assert_int_equal(out[0], c[i].first);
		assert_int_equal(out[1], c[i].second);
		assert_nearest_from(out, NCITIES, 0, c[i].lat, c[i].lon);
	}
	geo_map_free(m);
}

static void test_ties_by_index(void **state)
{
	const geo_point_t same[4] = { { 10, 10 }, { 20, 20 }, { 10, 10 }, { 20, 20 } };
	gtm_diag_t d = { 0 };
	geo_map_t *m = geo_map_new(NULL, same, 4, &d);
	uint16_t out[4];
	geo_loc_t loc = mkloc("", "", "", 15, 15, true, 0);    /* equidistant-ish; see below */
	geo_map_order(m, NULL, &loc, out, NULL);
	/* 0 and 2 coincide, as do 1 and 3: each pair keeps index order. */
	assert_true((out[0] == 0 && out[1] == 2) || (out[0] == 1 && out[1] == 3));
	assert_true((out[2] == 0 && out[3] == 2) || (out[2] == 1 && out[3] == 3));
	loc = mkloc("", "", "", 10, 10, true, 0);
	geo_map_order(m, NULL, &loc, out, NULL);
	assert_order(out, 4, L(0, 2, 1, 3));
	geo_map_free(m);
}

static void test_default_order(void **state)
{
	geo_map_t *m = new_map();
	uint16_t out[NCITIES];
	geo_order_info_t info;
	gtm_diag_t d = { 0 };

	/* No location at all, not found, found without coordinates: config order. */
	geo_map_order(m, NULL, NULL, out, &info);
	assert_order(out, NCITIES, L(0, 1, 2, 3, 4, 5, 6));
	assert_int_equal(info.how, GEO_BY_DEFAULT);
	geo_loc_t nf = mkloc("", "", "", 0, 0, false, 9);
	nf.found = false;
	geo_map_order(m, NULL, &nf, out, &info);
	assert_order(out, NCITIES, L(0, 1, 2, 3, 4, 5, 6));
	assert_int_equal(info.scope, 9);
	geo_loc_t nc = mkloc("KR", "AS", "", 0, 0, false, 12);
	geo_map_order(m, NULL, &nc, out, &info);
	assert_order(out, NCITIES, L(0, 1, 2, 3, 4, 5, 6));
	assert_int_equal(info.how, GEO_BY_DEFAULT);

	/* A configured default: listed first, the rest in config order. */
	assert_int_equal(geo_map_set_default(m, L(SIN, FRA), &d, "gtm.conf", 12), 0);
	geo_map_order(m, NULL, &nf, out, &info);
	assert_order(out, NCITIES, L(SIN, FRA, 0, 1, 2, 4, 6));
	assert_int_equal(geo_map_set_default(m, L(SIN), &d, "gtm.conf", 13), GTM_EEXIST);
	assert_string_equal(d.msgs[0], "gtm.conf:13: test: default order set twice");
	gtm_diag_clear(&d);
	geo_map_free(m);
}

static geo_map_t *precedence_map(void)
{
	geo_map_t *m = new_map();
	gtm_diag_t d = { 0 };
	/* Rule numbers 0..4, in the order added; the order of adding does not
	 * matter for precedence. */
	assert_int_equal(geo_map_add_continent(m, "AS", L(SIN), &d, NULL, 0), 0);          /* 0 */
	assert_int_equal(geo_map_add_country(m, "cn", L(GZ), &d, NULL, 0), 0);             /* 1 */
	assert_int_equal(geo_map_add_subdivision(m, "CN-BJ", L(BJ), &d, NULL, 0), 0);      /* 2 */
	assert_int_equal(geo_map_add_cidr(m, "198.18.0.0/16", L(IAD), &d, NULL, 0), 0);    /* 3 */
	assert_int_equal(geo_map_add_cidr(m, "2001:db8::/32", L(FRA), &d, NULL, 0), 0);    /* 4 */
	assert_int_equal(geo_map_add_subdivision(m, "US-Virginia", L(IAD, GRU), &d, NULL, 0), 0); /* 5 */
	print_diag(&d);
	assert_int_equal(d.count, 0);
	return m;
}

static void test_precedence(void **state)
{
	geo_map_t *m = precedence_map();
	struct sockaddr_storage ss;
	uint16_t out[NCITIES];
	geo_order_info_t info;

	/* A Beijing client inside the CIDR rule: CIDR wins over everything. */
	geo_loc_t bj = mkloc("CN", "AS", "BJ", 39.9042, 116.4074, true, 16);
	geo_map_order(m, mkaddr(&ss, "198.18.7.9"), &bj, out, &info);
	assert_int_equal(info.how, GEO_BY_CIDR);
	assert_int_equal(info.rule, 3);
	assert_int_equal(out[0], IAD);
	assert_nearest_from(out, NCITIES, 1, bj.lat, bj.lon);

	/* The same location from another address: subdivision. */
	geo_map_order(m, mkaddr(&ss, "100.64.0.1"), &bj, out, &info);
	assert_int_equal(info.how, GEO_BY_SUBDIVISION);
	assert_int_equal(info.rule, 2);
	assert_int_equal(out[0], BJ);

	/* Subdivisions match case-insensitively (flat names). */
	geo_loc_t va = mkloc("US", "NA", "VIRGINIA", 39.0438, -77.4874, true, 24);
	geo_map_order(m, NULL, &va, out, &info);
	assert_int_equal(info.how, GEO_BY_SUBDIVISION);
	assert_int_equal(info.rule, 5);
	assert_int_equal(out[0], IAD);
	assert_int_equal(out[1], GRU);
	assert_nearest_from(out, NCITIES, 2, va.lat, va.lon);

	/* A subdivision code of another country does not match. */
	geo_loc_t kr = mkloc("KR", "AS", "BJ", 37.5665, 126.9780, true, 24);
	geo_map_order(m, NULL, &kr, out, &info);
	assert_int_equal(info.how, GEO_BY_CONTINENT);

	/* Shanghai: no subdivision rule, so the country rule. */
	geo_loc_t sh = mkloc("CN", "AS", "SH", 31.2304, 121.4737, true, 16);
	geo_map_order(m, mkaddr(&ss, "198.19.0.1"), &sh, out, &info);
	assert_int_equal(info.how, GEO_BY_COUNTRY);
	assert_int_equal(info.rule, 1);
	assert_int_equal(out[0], GZ);
	/* The rest nearest first from Shanghai. */
	assert_int_equal(out[1], SH);
	assert_int_equal(out[2], BJ);
	assert_nearest_from(out, NCITIES, 1, sh.lat, sh.lon);

	/* Tokyo: continent. */
	geo_loc_t ty = mkloc("JP", "AS", "13", 35.6762, 139.6503, true, 24);
	geo_map_order(m, NULL, &ty, out, &info);
	assert_int_equal(info.how, GEO_BY_CONTINENT);
	assert_int_equal(info.rule, 0);
	assert_int_equal(out[0], SIN);
	assert_int_equal(out[1], SH);

	/* Frankfurt: no rule, distance. */
	geo_loc_t fr = mkloc("DE", "EU", "HE", 50.1109, 8.6821, true, 24);
	geo_map_order(m, NULL, &fr, out, &info);
	assert_int_equal(info.how, GEO_BY_DISTANCE);
	assert_int_equal(out[0], FRA);

	/* A rule still applies without coordinates; the rest in default order. */
	geo_loc_t cn = mkloc("CN", "AS", "", 0, 0, false, 8);
	geo_map_order(m, NULL, &cn, out, &info);
	assert_int_equal(info.how, GEO_BY_COUNTRY);
	assert_order(out, NCITIES, L(GZ, BJ, SH, FRA, IAD, SIN, GRU));

	/* IPv6 CIDR, and an IPv4-mapped client against the IPv4 rule. */
	geo_map_order(m, mkaddr(&ss, "2001:db8:1::1"), &fr, out, &info);
	assert_int_equal(info.how, GEO_BY_CIDR);
	assert_int_equal(info.rule, 4);
	assert_int_equal(info.scope, 32);
	geo_map_order(m, mkaddr(&ss, "::ffff:198.18.1.1"), &fr, out, &info);
	assert_int_equal(info.how, GEO_BY_CIDR);
	assert_int_equal(info.rule, 3);
	assert_int_equal(info.scope, 16);

	/* Not found, outside the CIDR rules: the default order. */
	geo_map_order(m, mkaddr(&ss, "192.0.0.1"), NULL, out, &info);
	assert_int_equal(info.how, GEO_BY_DEFAULT);
	assert_order(out, NCITIES, L(0, 1, 2, 3, 4, 5, 6));
	geo_map_free(m);
}

static void test_cidr_longest_and_scope(void **state)
{
	geo_map_t *m = new_map();
	gtm_diag_t d = { 0 };
	struct sockaddr_storage ss;
	unsigned depth;

	/* Nothing mapped: scope 0 (the rules do not split the address space). */
	assert_int_equal(geo_map_match_cidr(m, mkaddr(&ss, "198.18.0.1"), &depth), -1);
	assert_int_equal(depth, 0);

	assert_int_equal(geo_map_add_cidr(m, "198.18.0.0/16", L(BJ), &d, NULL, 0), 0);      /* 0 */
	assert_int_equal(geo_map_add_cidr(m, "198.18.128.0/17", L(SH), &d, NULL, 0), 0);    /* 1 */
	assert_int_equal(geo_map_add_cidr(m, "198.18.200.0/24", L(GZ), &d, NULL, 0), 0);    /* 2 */
	assert_int_equal(geo_map_add_cidr(m, "198.18.200.5", L(FRA), &d, NULL, 0), 0);      /* 3 */
	assert_int_equal(geo_map_add_cidr(m, "0.0.0.0/0", L(GRU), &d, NULL, 0), 0);         /* 4 */
	assert_int_equal(geo_map_add_cidr(m, "2001:db8::/32", L(IAD), &d, NULL, 0), 0);     /* 5 */
	assert_int_equal(geo_map_add_cidr(m, "2001:db8:100::/48", L(SIN), &d, NULL, 0), 0); /* 6 */
	print_diag(&d);

	static const struct { const char *addr; int rule; unsigned scope; } c[] = {
		{ "198.18.7.9", 0, 17 },      /* /16, and the /17 sibling splits at bit 17 */
		{ "198.18.130.1", 1, 18 },
		{ "198.18.200.6", 2, 31 },  /* .6 and .5 part at bit 30 */
		{ "198.18.200.5", 3, 32 },
		{ "198.18.201.1", 1, 24 },
		{ "10.1.2.3", 4, 1 },         /* only the default route */
		{ "::ffff:198.18.200.5", 3, 32 },
		{ "2001:db8:1::1", 5, 40 },   /* 2001:db8:0001:: leaves the /48 path at bit 39 */
		{ "2001:db8:100:ffff::1", 6, 48 },
		{ "2001:db9::1", -1, 32 },
		{ "::1", -1, 3 },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int r = geo_map_match_cidr(m, mkaddr(&ss, c[i].addr), &depth);
		if (r != c[i].rule || depth != c[i].scope) {
			fprintf(stderr, "%s: rule %d scope %u, expected %d %u\n", c[i].addr, r, depth,
			        c[i].rule, c[i].scope);
			fail();
		}
	}

	/* Without a CIDR match the scope is the larger of the rules' depth and
	 * the database's prefix. */
	geo_order_info_t info;
	uint16_t out[NCITIES];
	geo_loc_t l = mkloc("JP", "AS", "", 35, 139, true, 20);
	geo_map_order(m, mkaddr(&ss, "2001:db9::1"), &l, out, &info);
	assert_int_equal(info.how, GEO_BY_DISTANCE);
	assert_int_equal(info.scope, 32);
	l.prefix = 48;
	geo_map_order(m, mkaddr(&ss, "2001:db9::1"), &l, out, &info);
	assert_int_equal(info.scope, 48);
	geo_map_free(m);
}

static void expect_err(int rc, int want, gtm_diag_t *d, const char *msg)
{
	assert_int_equal(rc, want);
	assert_int_equal(d->count, 1);
	if (strcmp(d->msgs[0], msg) != 0) {
		fprintf(stderr, "got:  %s\nwant: %s\n", d->msgs[0], msg);
		fail();
	}
	gtm_diag_clear(d);
}

static void test_errors(void **state)
{
	geo_map_t *m = new_map();
	gtm_diag_t d = { 0 };
	const char *f = "gtm.conf";

	expect_err(geo_map_add_cidr(m, "198.18.0.0/33", L(BJ), &d, f, 3), GTM_EINVAL, &d,
	           "gtm.conf:3: test: bad network '198.18.0.0/33': prefix length out of range (0..32)");
	expect_err(geo_map_add_cidr(m, "198.18.0.1/16", L(BJ), &d, f, 3), GTM_EINVAL, &d,
	           "gtm.conf:3: test: bad network '198.18.0.1/16': host bits set after the prefix length");
	expect_err(geo_map_add_cidr(m, "2001:db8::/129", L(BJ), &d, f, 3), GTM_EINVAL, &d,
	           "gtm.conf:3: test: bad network '2001:db8::/129': prefix length out of range (0..128)");
	expect_err(geo_map_add_cidr(m, "beijing", L(BJ), &d, f, 3), GTM_EINVAL, &d,
	           "gtm.conf:3: test: bad network 'beijing': not an IPv4 or IPv6 address");
	expect_err(geo_map_add_cidr(m, "10.0.0.0/", L(BJ), &d, f, 3), GTM_EINVAL, &d,
	           "gtm.conf:3: test: bad network '10.0.0.0/': bad prefix length");
	expect_err(geo_map_add_cidr(m, "10.0.0.0/8x", L(BJ), &d, f, 3), GTM_EINVAL, &d,
	           "gtm.conf:3: test: bad network '10.0.0.0/8x': bad prefix length");
	expect_err(geo_map_add_cidr(m, "", L(BJ), &d, f, 3), GTM_EINVAL, &d,
	           "gtm.conf:3: test: bad network '': not an address or prefix");
	expect_err(geo_map_add_cidr(m, "10.0.0.0/8", L(BJ, 7), &d, f, 4), GTM_EINVAL, &d,
	           "gtm.conf:4: test: network 10.0.0.0/8: city index 7 out of range (0..6)");
	expect_err(geo_map_add_cidr(m, "10.0.0.0/8", L(BJ, SH, BJ), &d, f, 4), GTM_EINVAL, &d,
	           "gtm.conf:4: test: network 10.0.0.0/8: city index 0 listed twice");
	expect_err(geo_map_add_cidr(m, "10.0.0.0/8", NULL, 0, &d, f, 4), GTM_EINVAL, &d,
	           "gtm.conf:4: test: network 10.0.0.0/8: empty city list");
	assert_int_equal(geo_map_add_cidr(m, "10.0.0.0/8", L(BJ), &d, f, 5), 0);
	expect_err(geo_map_add_cidr(m, "10.0.0.0/8", L(SH), &d, f, 6), GTM_EEXIST, &d,
	           "gtm.conf:6: test: network 10.0.0.0/8 is mapped twice");
	/* The same network written as IPv4-mapped IPv6. */
	expect_err(geo_map_add_cidr(m, "::ffff:10.0.0.0/104", L(SH), &d, f, 6), GTM_EEXIST, &d,
	           "gtm.conf:6: test: network ::ffff:10.0.0.0/104 is mapped twice");

	expect_err(geo_map_add_country(m, "UK", L(FRA), &d, f, 7), GTM_EINVAL, &d,
	           "gtm.conf:7: test: unknown country code 'UK' (ISO 3166-1 alpha-2; the United Kingdom is GB)");
	expect_err(geo_map_add_country(m, "CHN", L(FRA), &d, f, 7), GTM_EINVAL, &d,
	           "gtm.conf:7: test: unknown country code 'CHN' (ISO 3166-1 alpha-2)");
	assert_int_equal(geo_map_add_country(m, "gb", L(FRA), &d, f, 8), 0);
	expect_err(geo_map_add_country(m, "GB", L(FRA), &d, f, 9), GTM_EEXIST, &d,
	           "gtm.conf:9: test: country GB is mapped twice");

	expect_err(geo_map_add_continent(m, "XX", L(FRA), &d, f, 10), GTM_EINVAL, &d,
	           "gtm.conf:10: test: unknown continent code 'XX' (AF AN AS EU NA OC SA)");
	assert_int_equal(geo_map_add_continent(m, "eu", L(FRA), &d, f, 10), 0);
	expect_err(geo_map_add_continent(m, "EU", L(FRA), &d, f, 11), GTM_EEXIST, &d,
	           "gtm.conf:11: test: continent EU is mapped twice");

	static const char *bad_sub[] = { "CNBJ", "CN-", "XX-1", "C-BJ", "CN-abcdefghijklmnopqrstuvwxyz" };
	for (size_t i = 0; i < sizeof(bad_sub) / sizeof(bad_sub[0]); i++) {
		assert_int_equal(geo_map_add_subdivision(m, bad_sub[i], L(BJ), &d, f, 12), GTM_EINVAL);
		assert_int_equal(d.count, 1);
		assert_non_null(strstr(d.msgs[0], "bad subdivision"));
		gtm_diag_clear(&d);
	}
	assert_int_equal(geo_map_add_subdivision(m, "us-Virginia", L(IAD), &d, f, 13), 0);
	expect_err(geo_map_add_subdivision(m, "US-VIRGINIA", L(IAD), &d, f, 14), GTM_EEXIST, &d,
	           "gtm.conf:14: test: subdivision US-VIRGINIA is mapped twice");

	/* geo_map_new() */
	geo_point_t bad = { 91, 0 };
	assert_null(geo_map_new("m", &bad, 1, &d));
	assert_null(geo_map_new("m", cities, 0, &d));
	geo_point_t many[GEO_MAX_CITIES + 1];
	memset(many, 0, sizeof(many));
	assert_null(geo_map_new("m", many, GEO_MAX_CITIES + 1, &d));
	assert_int_equal(d.count, 3);
	assert_string_equal(d.msgs[0], "m: city 0: invalid coordinates (91, 0)");
	assert_string_equal(d.msgs[1], "m: 0 cities (must be 1..256)");
	gtm_diag_clear(&d);
	geo_map_t *big = geo_map_new("m", many, GEO_MAX_CITIES, NULL);
	assert_non_null(big);
	assert_int_equal(geo_map_ncities(big), GEO_MAX_CITIES);
	geo_map_free(big);

	assert_int_not_equal(geo_map_generation(m), 0);
	geo_map_t *m2 = new_map();
	assert_int_not_equal(geo_map_generation(m), geo_map_generation(m2));
	geo_map_free(m2);
	geo_map_free(m);
	geo_map_free(NULL);
}

/* End to end: with one city per fixture location, every fixture client, v4
 * and v6, goes to its own city first, in both schemas. */
static void test_fixture_cities_nearest(void **state)
{
	geo_point_t pts[NFIXTURE_CITIES];
	for (size_t i = 0; i < NFIXTURE_CITIES; i++) {
		pts[i].lat = fixture_cities[i].lat;
		pts[i].lon = fixture_cities[i].lon;
	}
	gtm_diag_t d = { 0 };
	geo_map_t *m = geo_map_new("fixture", pts, NFIXTURE_CITIES, &d);
	assert_non_null(m);

	for (int s = 0; s < 2; s++) {
		geo_db_t *db = s == 0 ? open_fixture("geoip2", "geoip2-city.mmdb", NULL)
		                      : open_fixture("flat", "flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb");
		assert_non_null(db);
		for (size_t i = 0; i < NFIXTURE_CITIES; i++) {
			for (int v6 = 0; v6 < 2; v6++) {
				struct sockaddr_storage ss;
				const struct sockaddr *sa = mkaddr(&ss, v6 ? fixture_cities[i].v6 : fixture_cities[i].v4);
				geo_loc_t loc;
				uint16_t out[NFIXTURE_CITIES];
				geo_order_info_t info;
				assert_int_equal(geo_db_lookup(db, sa, &loc), 0);
				assert_int_equal(geo_map_order(m, sa, &loc, out, &info), NFIXTURE_CITIES);
				assert_int_equal(info.how, GEO_BY_DISTANCE);
				assert_int_equal(info.scope, v6 ? fixture_cities[i].v6_prefix : fixture_cities[i].v4_prefix);
				if (out[0] != i) {
					fprintf(stderr, "%s (%s): first city %u\n", fixture_cities[i].name,
					        v6 ? "v6" : "v4", out[0]);
					fail();
				}
			}
		}
		geo_db_free(db);
	}
	geo_map_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_distance),
		cmocka_unit_test(test_nearest),
		cmocka_unit_test(test_ties_by_index),
		cmocka_unit_test(test_default_order),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_cidr_longest_and_scope),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_fixture_cities_nearest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
