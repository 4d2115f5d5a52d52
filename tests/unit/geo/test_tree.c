/*
 * Unit tests of geo/tree.c: the translated tree gives, for every address,
 * the order that geo_db_lookup() + geo_map_order() give (every fixture
 * network in both schemas, IPv4, IPv6, IPv4-mapped, the database's IPv4
 * aliases, unlocated clients, and random addresses); its scopes are
 * consistent (every address within the scope gets the same region), never
 * longer than the plain path's (the MMDB network, or the CIDR rule's
 * depth), and minimal (the sibling of a leaf is never a leaf of the same
 * region); CIDR rules override the database below their prefix only;
 * unknown clients get the default order (region 0).
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

enum { BJ, SH, SZ, GZ, HZ, FRA, IAD, TYO, SIN, GRU };

static geo_map_t *plain_map(void)
{
	geo_point_t pts[NFIXTURE_CITIES];
	for (size_t i = 0; i < NFIXTURE_CITIES; i++) {
		pts[i].lat = fixture_cities[i].lat;
		pts[i].lon = fixture_cities[i].lon;
	}
	gtm_diag_t d = { 0 };
	geo_map_t *m = geo_map_new("tree", pts, NFIXTURE_CITIES, &d);
	assert_non_null(m);
	return m;
}

/* Every kind of rule, CIDR rules inside, around and beside networks. */
static geo_map_t *rules_map(void)
{
	geo_map_t *m = plain_map();
	gtm_diag_t d = { 0 };
	const uint16_t o1[] = { GZ, SH }, o2[] = { GRU }, o3[] = { FRA, IAD, TYO }, o4[] = { IAD };
	const uint16_t o5[] = { TYO, SIN };
	assert_int_equal(geo_map_add_cidr(m, "198.18.128.0/17", o4, 1, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_cidr(m, "198.18.200.0/24", o2, 1, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_cidr(m, "100.64.0.0/10", o5, 2, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_cidr(m, "8.8.8.0/24", o1, 2, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_cidr(m, "::ffff:192.0.2.128/121", o2, 1, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_cidr(m, "2001:db8:100::/56", o2, 1, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_cidr(m, "2002:c612::/32", o1, 2, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_cidr(m, "3fff:100:abcd::1", o3, 3, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_subdivision(m, "CN-ZJ", o3, 3, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_subdivision(m, "CN-Zhejiang", o3, 3, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_country(m, "JP", o2, 1, &d, NULL, 0), 0);
	assert_int_equal(geo_map_add_continent(m, "SA", o1, 2, &d, NULL, 0), 0);
	assert_int_equal(geo_map_set_default(m, o5, 2, &d, NULL, 0), 0);
	print_diag(&d);
	assert_int_equal(d.count, 0);
	return m;
}

static geo_tree_t *tree_of(const geo_db_t *db, const geo_map_t *m)
{
	gtm_diag_t d = { 0 };
	geo_tree_t *t = geo_tree_new(db, m, &d);
	print_diag(&d);
	assert_non_null(t);
	assert_int_equal(d.count, 0);
	return t;
}

/* The plain path's order and scope for `sa`. */
static size_t plain_order(const geo_db_t *db, const geo_map_t *m, const struct sockaddr *sa,
                          uint16_t *out, unsigned *scope)
{
	geo_loc_t loc;
	geo_order_info_t info;
	const geo_loc_t *lp = NULL;
	if (db != NULL && sa != NULL) {
		if (geo_db_lookup(db, sa, &loc) != 0)
			loc.found = false;
		lp = &loc;
	}
	size_t n = geo_map_order(m, sa, lp, out, &info);
	*scope = info.scope;
	return n;
}

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Address bytes of `sa` (4 or 16) and where they live, for bit games. */
static uint8_t *addr_bytes(struct sockaddr_storage *ss, unsigned *bits)
{
	if (ss->ss_family == AF_INET) {
		*bits = 32;
		return (uint8_t *)&((struct sockaddr_in *)ss)->sin_addr;
	}
	*bits = 128;
	return ((struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
}

static bool is_mapped(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/*
 * Checks one address: same order as the plain path, a scope no longer than
 * the plain path's, every address within the scope in the same region (a
 * few random ones), and the leaf's sibling not a leaf of the same region.
 */
static void check_addr(const geo_db_t *db, const geo_map_t *m, const geo_tree_t *t,
                       const struct sockaddr_storage *ss)
{
	const struct sockaddr *sa = (const struct sockaddr *)ss;
	uint16_t want[GEO_MAX_CITIES];
	unsigned pscope, scope;
	size_t n = plain_order(db, m, sa, want, &pscope);
	assert_int_equal(n, geo_tree_ncities(t));
	uint32_t region = geo_tree_lookup(t, sa, &scope);
	const uint16_t *got = geo_tree_region(t, region);
	if (memcmp(want, got, n * sizeof(want[0])) != 0) {
		char text[INET6_ADDRSTRLEN];
		const void *a = ss->ss_family == AF_INET ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
		                                         : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		inet_ntop(ss->ss_family, a, text, sizeof(text));
		fprintf(stderr, "%s: want first %u, got %u (region %u)\n", text, want[0], got[0], region);
	}
	assert_memory_equal(want, got, n * sizeof(want[0]));
	assert_ptr_equal(geo_tree_order(t, sa, NULL), got);
	/* The plain path's scope is the MMDB network's (or the CIDR trie's
	 * depth, when longer), over which the order cannot change; merging
	 * only widens it.  Under a CIDR rule the plain scope is the rule's
	 * alone, which is too wide when the rule lists only some cities and
	 * the rest follow by distance: there the tree is right and the plain
	 * scope is not compared. */
	if (geo_map_match_cidr(m, sa, NULL) < 0) {
		if (scope > pscope)
			fprintf(stderr, "scope %u > plain %u\n", scope, pscope);
		assert_true(scope <= pscope);
	}

	/* Bits are counted in the address's own family: IPv4 bits for a
	 * mapped address, which start at byte 12. */
	struct sockaddr_storage x = *ss;
	unsigned bits;
	uint8_t *b = addr_bytes(&x, &bits);
	unsigned off = 0;
	if (is_mapped(ss)) {
		bits = 32;
		off = 96;
	}
	assert_true(scope <= bits);
	for (int k = 0; k < 4; k++) {
		x = *ss;
		for (unsigned i = scope; i < bits; i++) {
			unsigned bit = off + i;
			if (rnd() & 1)
				b[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
		}
		unsigned s2;
		assert_int_equal(geo_tree_lookup(t, (const struct sockaddr *)&x, &s2), region);
		assert_true(s2 >= scope);
	}
	if (scope > 0) {
		x = *ss;
		unsigned bit = off + scope - 1;
		b[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
		unsigned s2;
		uint32_t r2 = geo_tree_lookup(t, (const struct sockaddr *)&x, &s2);
		assert_false(s2 == scope && r2 == region);
	}
}

static void fixture_addrs(void (*fn)(const struct sockaddr_storage *, void *), void *arg)
{
	struct sockaddr_storage ss;
	char buf[64];
	static const char *const extra[] = {
		"8.8.8.8", "8.8.8.200", "2001:db8:ffff::1", "3fff:f00::1", "192.0.0.1", "0.0.0.0",
		"255.255.255.255", "::", "::1", "ffff::1", FIXTURE_COUNTRY_ONLY_V4, FIXTURE_COUNTRY_ONLY_V6,
		"198.18.200.7", "198.18.128.1", "198.18.127.255", "3fff:100:abcd::1", "3fff:100:abcd::2",
		"192.0.2.200", "::ffff:192.0.2.200", "2001:db8:100:ff::1", "2001:db8:101::1",
		/* The database's aliases of IPv4 space, and ::/96 itself. */
		"::198.18.7.9", "::ffff:198.18.7.9", "2002:c612:0709::1", "2002:c613:0101::", "2001:0:c612:0709::",
		"2001:0:6440:1234::5", "2002:6440:1234::",
	};
	for (size_t i = 0; i < NFIXTURE_CITIES; i++) {
		fn((const struct sockaddr_storage *)mkaddr(&ss, fixture_cities[i].v4), arg);
		fn((const struct sockaddr_storage *)mkaddr(&ss, fixture_cities[i].v6), arg);
		snprintf(buf, sizeof(buf), "::ffff:%s", fixture_cities[i].v4);
		fn((const struct sockaddr_storage *)mkaddr(&ss, buf), arg);
	}
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		fn((const struct sockaddr_storage *)mkaddr(&ss, extra[i]), arg);
}

typedef struct check_arg {
	const geo_db_t *db;
	const geo_map_t *m;
	const geo_tree_t *t;
} check_arg_t;

static void check_cb(const struct sockaddr_storage *ss, void *arg)
{
	const check_arg_t *c = arg;
	check_addr(c->db, c->m, c->t, ss);
}

/* Random addresses: anywhere, near the fixture networks, mapped, aliased. */
static void random_addrs(const check_arg_t *c, int count)
{
	static const char *const near[] = {
		"198.18.0.0", "100.64.0.0", "192.0.2.0", "198.51.100.0", "203.0.113.0", "8.8.8.0",
		"3fff::", "2001:db8::", "2002:c612::", "2002:6440::", "2001::", "::", "::ffff:0:0",
	};
	struct sockaddr_storage ss;
	for (int i = 0; i < count; i++) {
		const char *base = near[rnd() % (sizeof(near) / sizeof(near[0]))];
		mkaddr(&ss, base);
		unsigned bits;
		uint8_t *b = addr_bytes(&ss, &bits);
		unsigned keep;
		switch (rnd() % 4) {
		case 0: keep = 0; break;                       /* anywhere */
		case 1: keep = bits == 32 ? 8 : 16; break;
		default: keep = bits == 32 ? 14 : (is_mapped(&ss) || base[0] == ':' ? 100 : 28); break;
		}
		for (unsigned k = keep; k < bits; k++)
			if (rnd() & 1)
				b[k / 8] ^= (uint8_t)(0x80u >> (k % 8));
		check_addr(c->db, c->m, c->t, &ss);
	}
}

static void same_as_plain(const char *preset, const char *f1, const char *f2, geo_map_t *m)
{
	geo_db_t *db = open_fixture(preset, f1, f2);
	assert_non_null(db);
	geo_tree_t *t = tree_of(db, m);
	check_arg_t c = { db, m, t };
	fixture_addrs(check_cb, &c);
	random_addrs(&c, 100000);

	geo_tree_stats_t st;
	geo_tree_get_stats(t, &st);
	assert_true(st.nodes > 0);
	assert_true(st.regions >= 2);
	assert_int_equal(st.regions, geo_tree_nregions(t));
	assert_true(st.leaves > st.regions);
	assert_true(st.bytes > st.nodes * 8);
	geo_tree_unref(t);
	geo_db_free(db);
}

static void test_same_as_plain_geoip2(void **state)
{
	geo_map_t *m = plain_map();
	same_as_plain("geoip2", "geoip2-city.mmdb", NULL, m);
	geo_map_free(m);
	m = rules_map();
	same_as_plain("geoip2", "geoip2-city.mmdb", NULL, m);
	geo_map_free(m);
}

static void test_same_as_plain_flat(void **state)
{
	geo_map_t *m = plain_map();
	same_as_plain("flat", "flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb", m);
	geo_map_free(m);
	m = rules_map();
	same_as_plain("flat", "flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb", m);
	geo_map_free(m);
}

static void test_ipv4_only_file(void **state)
{
	/* An IPv4 file alone: IPv6 clients are unlocated (CIDR rules apply). */
	geo_map_t *m = rules_map();
	same_as_plain("flat", "flat-city-ipv4.mmdb", NULL, m);
	geo_map_free(m);
}

static void test_without_db(void **state)
{
	/* No database: the CIDR rules and the default order. */
	geo_map_t *m = rules_map();
	geo_tree_t *t = tree_of(NULL, m);
	check_arg_t c = { NULL, m, t };
	fixture_addrs(check_cb, &c);
	random_addrs(&c, 20000);
	struct sockaddr_storage ss;
	unsigned scope;
	assert_int_equal(geo_tree_order(t, mkaddr(&ss, "198.18.200.9"), &scope)[0], GRU);
	assert_int_equal(scope, 24);
	assert_int_equal(geo_tree_lookup(t, mkaddr(&ss, "203.0.113.30"), &scope), 0);
	geo_tree_unref(t);

	/* A map without rules: one region, every scope 0. */
	geo_map_t *p = plain_map();
	t = tree_of(NULL, p);
	assert_int_equal(geo_tree_nregions(t), 1);
	assert_int_equal(geo_tree_lookup(t, mkaddr(&ss, "3fff:100::1"), &scope), 0);
	assert_int_equal(scope, 0);
	assert_int_equal(geo_tree_lookup(t, mkaddr(&ss, "198.18.0.1"), &scope), 0);
	assert_int_equal(scope, 0);
	geo_tree_unref(t);
	geo_map_free(p);
	geo_map_free(m);
}

static void test_cidr_override(void **state)
{
	geo_db_t *db = open_fixture("geoip2", "geoip2-city.mmdb", NULL);
	geo_map_t *m = rules_map();
	geo_tree_t *t = tree_of(db, m);
	struct sockaddr_storage ss;
	unsigned scope;
	const uint16_t *o;

	/* Beijing's /16: the lower half by the database, the upper half by the
	 * /17 rule, and a /24 inside that by the /24 rule. */
	o = geo_tree_order(t, mkaddr(&ss, "198.18.7.9"), &scope);
	assert_int_equal(o[0], BJ);
	assert_int_equal(scope, 17);
	o = geo_tree_order(t, mkaddr(&ss, "198.18.128.1"), &scope);
	assert_int_equal(o[0], IAD);
	assert_int_equal(o[1], BJ);            /* the rest by distance from Beijing */
	assert_true(scope >= 17 && scope <= 24);
	o = geo_tree_order(t, mkaddr(&ss, "198.18.200.1"), &scope);
	assert_int_equal(o[0], GRU);
	assert_int_equal(scope, 24);
	/* The same through an IPv4-mapped address: IPv4 bits. */
	o = geo_tree_order(t, mkaddr(&ss, "::ffff:198.18.200.1"), &scope);
	assert_int_equal(o[0], GRU);
	assert_int_equal(scope, 24);
	/* A rule wider than the networks under it: 100.64.0.0/10 covers
	 * Shenzhen, Guangzhou, Hangzhou, Singapore, São Paulo. */
	for (size_t i = 0; i < NFIXTURE_CITIES; i++) {
		if (strncmp(fixture_cities[i].v4, "100.", 4) != 0)
			continue;
		o = geo_tree_order(t, mkaddr(&ss, fixture_cities[i].v4), &scope);
		assert_int_equal(o[0], TYO);
		assert_int_equal(o[1], SIN);
		assert_true(scope >= 10);
	}
	/* A rule where the database has nothing: its cities, then the default. */
	o = geo_tree_order(t, mkaddr(&ss, "8.8.8.8"), &scope);
	assert_int_equal(o[0], GZ);
	assert_int_equal(o[1], SH);
	assert_int_equal(o[2], TYO);           /* the default order's first */
	assert_int_equal(scope, 24);
	/* A mapped rule (::ffff:192.0.2.128/121 = 192.0.2.128/25) splits
	 * Frankfurt's /24 for IPv4 clients. */
	o = geo_tree_order(t, mkaddr(&ss, "192.0.2.200"), &scope);
	assert_int_equal(o[0], GRU);
	assert_int_equal(scope, 25);
	o = geo_tree_order(t, mkaddr(&ss, "192.0.2.10"), &scope);
	assert_int_equal(o[0], FRA);
	assert_int_equal(scope, 25);
	/* A host route in IPv6. */
	o = geo_tree_order(t, mkaddr(&ss, "3fff:100:abcd::1"), &scope);
	assert_int_equal(o[0], FRA);
	assert_int_equal(scope, 128);
	o = geo_tree_order(t, mkaddr(&ss, "3fff:100:abcd::2"), &scope);
	assert_int_equal(o[0], BJ);
	assert_int_equal(scope, 127);          /* ::2/127 holds no rule */
	/* An IPv6 rule over the database's 6to4 alias of Beijing's /16. */
	o = geo_tree_order(t, mkaddr(&ss, "2002:c612:0709::1"), &scope);
	assert_int_equal(o[0], GZ);
	o = geo_tree_order(t, mkaddr(&ss, "2002:c613:0709::1"), &scope);
	assert_int_equal(o[0], SH);
	assert_int_equal(scope, 32);

	geo_tree_unref(t);
	geo_map_free(m);
	geo_db_free(db);
}

static void test_unknown_and_default(void **state)
{
	geo_db_t *db = open_fixture("geoip2", "geoip2-city.mmdb", NULL);
	geo_map_t *m = rules_map();
	geo_tree_t *t = tree_of(db, m);
	struct sockaddr_storage ss;
	unsigned scope = 99;
	uint16_t def[NFIXTURE_CITIES];
	unsigned ps;
	plain_order(NULL, m, NULL, def, &ps);

	/* Region 0 is the default order: no address, another family, and the
	 * addresses in no network and under no rule. */
	assert_memory_equal(geo_tree_region(t, 0), def, sizeof(def));
	assert_int_equal(geo_tree_lookup(t, NULL, &scope), 0);
	assert_int_equal(scope, 0);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_int_equal(geo_tree_lookup(t, (const struct sockaddr *)&ss, &scope), 0);
	assert_int_equal(scope, 0);
	assert_int_equal(geo_tree_lookup(t, mkaddr(&ss, "9.9.9.9"), &scope), 0);
	assert_true(scope > 0 && scope <= 8);
	assert_int_equal(geo_tree_lookup(t, mkaddr(&ss, "2001:db8:ffff::1"), &scope), 0);
	assert_int_equal(geo_tree_lookup(t, mkaddr(&ss, "::ffff:9.9.9.9"), &scope), 0);
	assert_true(scope > 0 && scope <= 8);
	/* An out-of-range region reads as region 0. */
	assert_ptr_equal(geo_tree_region(t, 0x7fffffff), geo_tree_region(t, 0));
	/* The country-only record: located without coordinates, a country rule
	 * (none for DE), a continent rule (none for EU): the default order. */
	assert_int_equal(geo_tree_lookup(t, mkaddr(&ss, FIXTURE_COUNTRY_ONLY_V4), &scope), 0);

	/* References: two holders, two unrefs. */
	geo_tree_ref(t);
	geo_tree_unref(t);
	geo_tree_unref(t);
	geo_tree_unref(NULL);
	geo_map_free(m);
	geo_db_free(db);
}

static void test_merging(void **state)
{
	/*
	 * One city: every order is the same, so the whole of both families is
	 * one leaf, scope 0.  Two cities far apart with no rule: the networks
	 * nearer one city merge with the unlocated space when the default order
	 * is theirs.
	 */
	geo_db_t *db = open_fixture("geoip2", "geoip2-city.mmdb", NULL);
	geo_point_t one = { 0, 0 };
	gtm_diag_t d = { 0 };
	geo_map_t *m = geo_map_new("one", &one, 1, &d);
	geo_tree_t *t = tree_of(db, m);
	geo_tree_stats_t st;
	geo_tree_get_stats(t, &st);
	assert_int_equal(st.nodes, 0);
	assert_int_equal(st.regions, 1);
	struct sockaddr_storage ss;
	unsigned scope;
	assert_int_equal(geo_tree_lookup(t, mkaddr(&ss, "198.18.7.9"), &scope), 0);
	assert_int_equal(scope, 0);
	assert_int_equal(geo_tree_lookup(t, mkaddr(&ss, "3fff:100::1"), &scope), 0);
	assert_int_equal(scope, 0);
	geo_tree_unref(t);
	geo_map_free(m);

	/* Asia (Beijing) first by default, Americas second: Beijing's and
	 * Shanghai's /16s (both nearer Asia) merge into 198.18.0.0/15, and
	 * with the unlocated space around them. */
	geo_point_t two[2] = { { 39.9042, 116.4074 }, { 39.0438, -77.4874 } };
	m = geo_map_new("two", two, 2, &d);
	t = tree_of(db, m);
	assert_int_equal(geo_tree_nregions(t), 2);
	uint32_t r = geo_tree_lookup(t, mkaddr(&ss, "198.18.7.9"), &scope);
	assert_int_equal(geo_tree_region(t, r)[0], 0);
	assert_true(scope < 15);
	r = geo_tree_lookup(t, mkaddr(&ss, "198.51.100.20"), &scope);
	assert_int_equal(geo_tree_region(t, r)[0], 1);
	assert_int_equal(scope, 24);
	check_arg_t c = { db, m, t };
	fixture_addrs(check_cb, &c);
	random_addrs(&c, 20000);
	geo_tree_unref(t);
	geo_map_free(m);
	geo_db_free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_plain_geoip2),
		cmocka_unit_test(test_same_as_plain_flat),
		cmocka_unit_test(test_ipv4_only_file),
		cmocka_unit_test(test_without_db),
		cmocka_unit_test(test_cidr_override),
		cmocka_unit_test(test_unknown_and_default),
		cmocka_unit_test(test_merging),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
