/*
 * Unit tests of dns/server.c that need no socket: the UDP batch step (the
 * snapshot read lock plus dns_answer for each packet) must answer a batch of
 * varied queries without a single allocation (tests/unit/alloc_count.h),
 * steered ones with ECS through the geo tree built from the GeoIP fixture
 * database included.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/diag.h"
#include "dns/plan.h"
#include "dns/server.h"
#include "dns/snapshot.h"
#include "dns/zone.h"
#include "tests/unit/alloc_count.h"
#include "tests/unit/dns/dns_test.h"
#include "tests/unit/geo/geo_test.h"

#define BATCH 64

static int setup(void **state)
{
	(void)state;
	gtm_diag_t diag = { 0 };
	dns_zoneset_t *zs = dns_zoneset_new();
	assert_int_equal(dns_zoneset_add_zone(zs, "example.com", tdata("example.com.zone"), &diag), 0);
	assert_int_equal(dns_zoneset_add_service(zs, "www.example.com", 0, "test.conf", 1, &diag), 0);
	assert_int_equal(dns_zoneset_add_service(zs, "geo.example.com", 1, "test.conf", 2, &diag), 0);
	assert_int_equal(dns_zoneset_freeze(zs, &diag), 0);
	assert_int_equal(diag.count, 0);

	dns_plan_t *plan = dns_plan_new(2);
	struct in_addr a[2];
	struct in6_addr aaaa[1];
	inet_pton(AF_INET, "192.0.2.10", &a[0]);
	inet_pton(AF_INET, "192.0.2.20", &a[1]);
	inet_pton(AF_INET6, "2001:db8::10", &aaaa[0]);
	dns_plan_set_addrs(plan, 0, 30, a, 2, aaaa, 1);
	/* geo.example.com: Beijing, Frankfurt, Ashburn; two weighted sites each. */
	geo_point_t pts[3];
	static const unsigned fx[3] = { 0, 5, 6 };
	dns_plan_service_init(plan, 1, 30, DNS_PLAN_GEO, 3);
	for (unsigned c = 0; c < 3; c++) {
		dns_plan_site_t sites[2] = {
			{ .weight = 2, .site = 5, .a = &a[0], .na = 1, .aaaa = aaaa, .naaaa = 1 },
			{ .weight = 1, .site = 6, .a = &a[1], .na = 1 },
		};
		dns_plan_choice_set(plan, 1, (uint16_t)c, sites, 2);
		pts[c].lat = fixture_cities[fx[c]].lat;
		pts[c].lon = fixture_cities[fx[c]].lon;
	}

	dns_opts_t opts = { .udp_max = 1232, .nsid_len = 4, .ecs = true };
	memcpy(opts.nsid, "test", 4);
	dns_snapshot_t *snap = dns_snapshot_new(zs, plan, &opts);
	dns_zoneset_unref(zs);
	geo_map_t *m = geo_map_new("server", pts, 3, &diag);
	geo_db_t *db = open_fixture("geoip2", "geoip2-city.mmdb", NULL);
	assert_non_null(m);
	assert_non_null(db);
	geo_tree_t *tree = geo_tree_new(db, m, &diag);
	assert_non_null(tree);
	dns_snapshot_set_geo(snap, db, m, tree);
	geo_tree_unref(tree);
	geo_db_free(db);
	geo_map_free(m);
	dns_snapshot_publish(snap);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dns_snapshot_retire();
	return 0;
}

static void test_batch_answers_without_allocating(void **state)
{
	(void)state;
	static const tq_t qs[] = {
		{ .name = "www.example.com", .qtype = 1 },                  /* service A */
		{ .name = "WwW.ExAmPlE.cOm", .qtype = 28, .edns = true, .udp = 1232, .nsid = true },
		{ .name = "www.example.com", .qtype = 16 },                 /* service, other type */
		{ .name = "example.com", .qtype = 6, .edns = true, .udp = 4096 },
		{ .name = "mail.example.com", .qtype = 1 },
		{ .name = "alias.example.com", .qtype = 1 },                /* CNAME */
		{ .name = "big.example.com", .qtype = 16 },                 /* truncated */
		{ .name = "nosuch.example.com", .qtype = 1 },               /* NXDOMAIN */
		{ .name = "c.example.com", .qtype = 1 },                    /* empty non-terminal */
		{ .name = "x.sub.example.com", .qtype = 1, .edns = true, .udp = 1232 }, /* referral */
		{ .name = "www.example.org", .qtype = 1 },                  /* REFUSED */
		{ .name = "example.com", .qtype = 255 },                    /* ANY */
		{ .name = "geo.example.com", .qtype = 1 },                  /* steered by source */
		{ .name = "geo.example.com", .qtype = 1, .edns = true, .udp = 1232, .ecs = "198.18.7.0/24" },
		{ .name = "geo.example.com", .qtype = 28, .edns = true, .udp = 1232, .ecs = "3fff:300::/32" },
		{ .name = "geo.example.com", .qtype = 1, .edns = true, .udp = 1232, .ecs = "100.64.0.0/12" },
		{ .name = "geo.example.com", .qtype = 1, .edns = true, .udp = 1232, .ecs = "0.0.0.0/0" },
	};
	static const char *const sources[] = { "127.0.0.1", "192.0.2.10", "3fff:400::20", "8.8.8.8" };
	const size_t nq = sizeof(qs) / sizeof(qs[0]);
	static uint8_t inbuf[BATCH][600], outbuf[BATCH][4096];
	uint8_t *in[BATCH], *out[BATCH];
	size_t inlen[BATCH], outlen[BATCH];
	struct sockaddr_storage from[BATCH];
	dns_ctx_t ctx;
	dns_ctx_init(&ctx, 1);

	memset(from, 0, sizeof(from));
	for (unsigned i = 0; i < BATCH; i++) {
		tq_t t = qs[i % nq];
		t.id = (uint16_t)(0x1000 + i);
		t.flags1 = 0x01;
		in[i] = inbuf[i];
		out[i] = outbuf[i];
		inlen[i] = tq_build(&t, inbuf[i]);
		mkaddr(&from[i], sources[i % 4]);
	}
	/* One batch outside the count, so that lazily initialised state in
	 * libraries is not mistaken for per-query work. */
	dns_server_answer_batch(BATCH, in, inlen, from, out, sizeof(outbuf[0]), outlen, &ctx);

	gtm_alloc_count_start();
	for (int round = 0; round < 200; round++)
		dns_server_answer_batch(BATCH, in, inlen, from, out, sizeof(outbuf[0]), outlen, &ctx);
	long allocs = gtm_alloc_count_stop();

	for (unsigned i = 0; i < BATCH; i++) {
		assert_true(outlen[i] >= 12);
		assert_int_equal(out[i][0], (uint8_t)((0x1000 + i) >> 8));
		assert_int_equal(out[i][1], (uint8_t)(0x1000 + i));
		assert_true(out[i][2] & 0x80); /* QR */
	}
	assert_int_equal(ctx.stats.queries, 201 * BATCH);
	assert_true(ctx.stats.truncated > 0 && ctx.stats.nxdomain > 0 && ctx.stats.refused > 0);
	assert_true(ctx.stats.ecs > 0 && ctx.stats.geo > 0);
	/* geo.example.com's answers were counted per site, www's (one site
	 * with no index, dns_plan_set_addrs) were not. */
	assert_true(ctx.site_answers[5] > 0 && ctx.site_answers[6] > 0);
	assert_int_equal(ctx.site_answers[0], 0);
	if (gtm_alloc_count_available())
		assert_int_equal(allocs, 0);
	else
		print_message("allocation count not checked under AddressSanitizer\n");
}

static void test_batch_drops_qr_and_runts(void **state)
{
	(void)state;
	uint8_t q[600], r[1], o0[4096], o1[4096];
	tq_t t = { .id = 7, .name = "www.example.com", .qtype = 1 };
	size_t ql = tq_build(&t, q);
	q[2] |= 0x80; /* a response: never answered, or two servers could loop */
	r[0] = 0;
	uint8_t *in[2] = { q, r }, *out[2] = { o0, o1 };
	size_t inlen[2] = { ql, 1 }, outlen[2] = { 99, 99 };
	struct sockaddr_storage from[2];
	memset(from, 0, sizeof(from));
	dns_ctx_t ctx;
	dns_ctx_init(&ctx, 1);
	dns_server_answer_batch(2, in, inlen, from, out, sizeof(o0), outlen, &ctx);
	assert_int_equal(outlen[0], 0);
	assert_int_equal(outlen[1], 0);
	assert_int_equal(ctx.stats.dropped, 2);
}

int main(void)
{
	dns_snapshot_thread_register();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_answers_without_allocating),
		cmocka_unit_test(test_batch_drops_qr_and_runts),
	};
	int rc = cmocka_run_group_tests(tests, setup, teardown);
	dns_snapshot_thread_unregister();
	return rc;
}
