/*
 * The answer path never allocates (STYLE.md, hot-path rules).
 *
 * A few thousand varied queries, intact and damaged, go through
 * dns_answer() while tests/unit/alloc_count.h counts every malloc-family
 * call in the process; the count must stay at zero.  www.example.com is a
 * steered service (DNS_PLAN_GEO, weighted sites) over the geo tree built
 * from the GeoIP fixture database, asked with and without ECS, from
 * trusted and untrusted resolvers.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "common/diag.h"
#include "dns/answer.h"
#include "dns/snapshot.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "tests/unit/alloc_count.h"
#include "tests/unit/dns/dns_test.h"
#include "tests/unit/geo/geo_test.h"

static dns_snapshot_t *snap;

static int setup_snapshot(void **state)
{
	gtm_diag_t diag = { 0 };
	dns_zoneset_t *zs = dns_zoneset_new();
	int rc = dns_zoneset_add_zone(zs, "example.com", tdata("example.com.zone"), &diag);
	rc |= dns_zoneset_add_zone(zs, "child.example.com", tdata("child.example.com.zone"), &diag);
	rc |= dns_zoneset_add_service(zs, "www.example.com", 0, "t.conf", 1, &diag);
	rc |= dns_zoneset_freeze(zs, &diag);
	for (size_t i = 0; i < diag.count; i++)
		fprintf(stderr, "%s\n", diag.msgs[i]);
	gtm_diag_clear(&diag);
	if (rc != 0)
		return -1;
	/* Four cities (Beijing, Shanghai, Frankfurt, Ashburn), two weighted
	 * sites each; Shanghai not serving. */
	enum { NC = 4 };
	static const unsigned fx[NC] = { 0, 1, 5, 6 };
	dns_plan_t *plan = dns_plan_new(1);
	dns_plan_service_init(plan, 0, 30, DNS_PLAN_GEO, NC);
	geo_point_t pts[NC];
	for (unsigned c = 0; c < NC; c++) {
		struct in_addr a[2];
		struct in6_addr aaaa[1];
		a[0].s_addr = htonl(0x0A000000u + c * 256 + 1);
		a[1].s_addr = htonl(0x0A000000u + c * 256 + 2);
		inet_pton(AF_INET6, "2001:db8::10", &aaaa[0]);
		aaaa[0].s6_addr[15] = (uint8_t)c;
		/* Site indices 2c and 2c+1 (Shanghai's 2 and 3 never answer). */
		dns_plan_site_t sites[2] = {
			{ .weight = c == 1 ? 0 : 3, .site = (uint16_t)(2 * c), .a = &a[0], .na = 1,
			  .aaaa = aaaa, .naaaa = 1 },
			{ .weight = c == 1 ? 0 : 1, .site = (uint16_t)(2 * c + 1), .a = &a[1], .na = 1 },
		};
		dns_plan_choice_set(plan, 0, (uint16_t)c, sites, 2);
		if (c == 0)
			dns_plan_choice_set(plan, 0, DNS_PLAN_FALLBACK, sites, 2);
		pts[c].lat = fixture_cities[fx[c]].lat;
		pts[c].lon = fixture_cities[fx[c]].lon;
	}
	dns_opts_t opts;
	memset(&opts, 0, sizeof(opts));
	opts.udp_max = 1232;
	opts.nsid_len = 4;
	memcpy(opts.nsid, "ns-1", 4);
	/* ECS trusted from 0.0.0.0/1 (127.x, 100.x) and 3fff::/16 only. */
	opts.ecs = true;
	opts.n_ecs_trusted = 2;
	opts.ecs_trusted[0] = (dns_net_t){ .family = AF_INET, .prefix = 1 };
	opts.ecs_trusted[1] = (dns_net_t){ .family = AF_INET6, .prefix = 16, .addr = { 0x3f, 0xff } };
	snap = dns_snapshot_new(zs, plan, &opts);
	dns_zoneset_unref(zs);

	geo_map_t *m = geo_map_new("noalloc", pts, NC, NULL);
	geo_db_t *db = open_fixture("geoip2", "geoip2-city.mmdb", NULL);
	if (m == NULL || db == NULL)
		return -1;
	geo_tree_t *tree = geo_tree_new(db, m, NULL);
	if (tree == NULL)
		return -1;
	dns_snapshot_set_geo(snap, db, m, tree);
	geo_tree_unref(tree);
	geo_db_unref(db);
	geo_map_unref(m);
	return 0;
}

static int teardown_snapshot(void **state)
{
	dns_snapshot_free(snap);
	return 0;
}

/* The harness itself: an allocation while armed is seen.  The call goes
 * through a volatile pointer so the compiler cannot drop the pair. */
static void test_wrapper_counts(void **state)
{
	void *(*volatile m)(size_t) = malloc;
	void (*volatile f)(void *) = free;
	if (!gtm_alloc_count_available())
		skip();
	gtm_alloc_count_start();
	void *p = m(32);
	f(p);
	assert_int_equal(gtm_alloc_count_stop(), 2);
}

typedef struct pattern {
	const char *name;
	uint16_t qtype;
	bool edns;
	bool nsid;
	uint8_t version;
	int damage;   /* 0 none, 1 trailing byte, 2 cut short, 3 pointer in QNAME,
	               * 4 QR=1, 5 opcode NOTIFY, 6 second OPT, 7 runt */
	const char *ecs;
} pattern_t;

static const pattern_t patterns[] = {
	{ "www.example.com", DNS_TYPE_A, false, false, 0, 0, NULL },
	{ "WWW.Example.COM", DNS_TYPE_AAAA, true, false, 0, 0, NULL },
	{ "www.example.com", DNS_TYPE_ANY, true, true, 0, 0, NULL },
	{ "www.example.com", DNS_TYPE_MX, false, false, 0, 0, NULL },
	{ "example.com", DNS_TYPE_SOA, true, true, 0, 0, NULL },
	{ "example.com", DNS_TYPE_NS, false, false, 0, 0, NULL },
	{ "example.com", DNS_TYPE_ANY, false, false, 0, 0, NULL },
	{ "mail.example.com", DNS_TYPE_A, true, false, 0, 0, NULL },
	{ "mail.example.com", DNS_TYPE_TXT, false, false, 0, 0, NULL },
	{ "nothere.example.com", DNS_TYPE_A, true, false, 0, 0, NULL },
	{ "b.c.example.com", DNS_TYPE_A, false, false, 0, 0, NULL },
	{ "alias.example.com", DNS_TYPE_A, false, false, 0, 0, NULL },
	{ "chain1.example.com", DNS_TYPE_AAAA, true, false, 0, 0, NULL },
	{ "dangling.example.com", DNS_TYPE_A, false, false, 0, 0, NULL },
	{ "loop1.example.com", DNS_TYPE_A, false, false, 0, 0, NULL },
	{ "tochild.example.com", DNS_TYPE_A, true, false, 0, 0, NULL },
	{ "foo.wild.example.com", DNS_TYPE_A, false, false, 0, 0, NULL },
	{ "x.sub.example.com", DNS_TYPE_A, true, true, 0, 0, NULL },
	{ "sub.example.com", DNS_TYPE_DS, false, false, 0, 0, NULL },
	{ "www.fat.example.com", DNS_TYPE_A, false, false, 0, 0, NULL },
	{ "www.fat.example.com", DNS_TYPE_A, true, false, 0, 0, NULL },
	{ "big.example.com", DNS_TYPE_TXT, false, false, 0, 0, NULL },
	{ "big.example.com", DNS_TYPE_TXT, true, true, 0, 0, NULL },
	{ "_sip._tcp.example.com", DNS_TYPE_SRV, false, false, 0, 0, NULL },
	{ "www.example.org", DNS_TYPE_A, true, false, 0, 0, NULL },
	{ "example.com", DNS_TYPE_AXFR, false, false, 0, 0, NULL },
	{ "www.example.com", DNS_TYPE_A, true, false, 1, 0, NULL },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 1, NULL },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 2, NULL },
	{ "www.example.com", DNS_TYPE_A, false, false, 0, 3, NULL },
	{ "www.example.com", DNS_TYPE_A, false, false, 0, 4, NULL },
	{ "www.example.com", DNS_TYPE_SOA, false, false, 0, 5, NULL },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 6, NULL },
	{ "www.example.com", DNS_TYPE_A, false, false, 0, 7, NULL },
	/* Steered, with ECS: every fixture network, v4 and v6, /0, a
	 * subnet in no network, a country-only record. */
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 0, "198.18.7.0/24" },
	{ "www.example.com", DNS_TYPE_A, true, true, 0, 0, "198.19.200.0/24" },
	{ "www.example.com", DNS_TYPE_AAAA, true, false, 0, 0, "192.0.2.0/24" },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 0, "198.51.100.0/24" },
	{ "www.example.com", DNS_TYPE_ANY, true, false, 0, 0, "100.64.0.0/12" },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 0, "203.0.113.0/24" },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 0, "100.67.3.0/24" },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 0, "100.68.0.0/16" },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 0, "198.0.0.0/8" },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 0, "0.0.0.0/0" },
	{ "www.example.com", DNS_TYPE_AAAA, true, false, 0, 0, "3fff:100:abcd::/48" },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 0, "2001:db8:500:50::/64" },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 0, "::ffff:198.18.7.0/120" },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 0, "::/0" },
	{ "mail.example.com", DNS_TYPE_A, true, false, 0, 0, "198.18.7.0/24" },
	{ "nothere.example.com", DNS_TYPE_A, true, false, 0, 0, "3fff:300::/32" },
	{ "big.example.com", DNS_TYPE_TXT, true, true, 0, 0, "198.18.7.0/24" },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 1, "198.18.7.0/24" },
	{ "www.example.com", DNS_TYPE_A, true, false, 1, 0, "198.18.7.0/24" },
};
#define NPATTERNS (sizeof(patterns) / sizeof(patterns[0]))
#define ROUNDS 120

static size_t make(const pattern_t *p, uint16_t id, uint8_t *q)
{
	tq_t t = { .id = id, .flags1 = 0x01, .name = p->name, .qtype = p->qtype,
	           .edns = p->edns, .udp = 4096, .nsid = p->nsid, .version = p->version,
	           .ecs = p->ecs };
	size_t len = tq_build(&t, q);
	switch (p->damage) {
	case 1: q[len++] = 0x55; break;
	case 2: len -= 3; break;
	case 3: q[12] = 0xC0; q[13] = 12; break;
	case 4: q[2] |= 0x80; break;
	case 5: q[2] = 4 << 3; break;
	case 6: memcpy(q + len, q + len - 11, 11); len += 11; q[11] = 2; break;
	case 7: len = 7; break;
	}
	return len;
}

static void test_no_allocation(void **state)
{
	static uint8_t queries[NPATTERNS][600];
	static size_t lens[NPATTERNS];
	static uint8_t out[DNS_TCP_MAX];
	static uint8_t mutated[600];
	dns_ctx_t ctx;
	dns_ctx_init(&ctx, 1);
	dns_stats_t *stp = &ctx.stats;
	for (size_t i = 0; i < NPATTERNS; i++)
		lens[i] = make(&patterns[i], (uint16_t)i, queries[i]);

	/* Resolvers: unknown, trusted and not, located and not, both families. */
	static const char *const from[] = {
		NULL, "127.0.0.1", "100.66.40.40", "192.0.2.10", "8.8.8.8",
		"3fff:400::20", "2001:db8:400:30::30", "::ffff:100.65.0.77",
	};
	const size_t nfrom = sizeof(from) / sizeof(from[0]);
	static struct sockaddr_storage ss[8];
	const struct sockaddr *sa[8];
	for (size_t k = 0; k < nfrom; k++)
		sa[k] = from[k] != NULL ? mkaddr(&ss[k], from[k]) : NULL;

	uint32_t rnd = 12345;
	size_t answered = 0;
	gtm_alloc_count_start();
	for (unsigned r = 0; r < ROUNDS; r++) {
		for (size_t i = 0; i < NPATTERNS; i++) {
			dns_transport_t tr = (r % 3 == 0) ? DNS_TRANSPORT_TCP : DNS_TRANSPORT_UDP;
			size_t outmax = (r % 2 == 0) ? sizeof(out) : 512;
			const struct sockaddr *client = sa[(r + i) % nfrom];
			answered += dns_answer(snap, queries[i], lens[i], out, outmax, tr, client, &ctx) > 0;
			/* And a damaged copy: two bytes overwritten at random
			 * places, for the parser's error paths. */
			memcpy(mutated, queries[i], lens[i]);
			for (int k = 0; k < 2; k++) {
				rnd = rnd * 1103515245u + 12345u;
				mutated[(rnd >> 8) % lens[i]] = (uint8_t)(rnd >> 24);
			}
			answered += dns_answer(snap, mutated, lens[i], out, outmax, tr, client, &ctx) > 0;
		}
	}
	long allocs = gtm_alloc_count_stop();
	if (gtm_alloc_count_available())
		assert_int_equal(allocs, 0);

	/* The batch went where it was meant to. */
	assert_true(answered > ROUNDS * NPATTERNS);
	assert_true(stp->noerror > 0);
	assert_true(stp->nxdomain > 0);
	assert_true(stp->refused > 0);
	assert_true(stp->formerr > 0);
	assert_true(stp->notimp > 0);
	assert_true(stp->badvers > 0);
	assert_true(stp->truncated > 0);
	assert_true(stp->dropped > 0);
	assert_true(stp->edns > 0);
	assert_int_equal(stp->queries + stp->dropped, 2 * ROUNDS * NPATTERNS);
	/* The geo path ran, with ECS, through the tree. */
	assert_true(stp->ecs > 0);
	assert_true(stp->geo > 0);
	/* The answers per site moved (plain increments, counted while the
	 * allocations were): weighted draws in the serving cities, none in
	 * Shanghai, none beyond the plan's indices. */
	uint64_t per_site = 0;
	for (unsigned i = 0; i < DNS_MAX_SITES; i++)
		per_site += ctx.site_answers[i];
	assert_true(ctx.site_answers[0] > ctx.site_answers[1]);
	assert_true(ctx.site_answers[1] > 0);
	assert_true(ctx.site_answers[4] + ctx.site_answers[6] > 0);
	assert_int_equal(ctx.site_answers[2] + ctx.site_answers[3], 0);
	for (unsigned i = 0; i < 8; i++)
		per_site -= ctx.site_answers[i];
	assert_int_equal(per_site, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrapper_counts),
		cmocka_unit_test(test_no_allocation),
	};
	return cmocka_run_group_tests(tests, setup_snapshot, teardown_snapshot);
}
